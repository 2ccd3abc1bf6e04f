"""Evaluation of finished runs: cross-validation, the MFCC+SVM baseline, tables, figures and robustness."""
