"""Workflow stages: one module per rule file; each rule script calls one function."""
