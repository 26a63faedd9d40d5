"""One module per rule file: read a rule's inputs, call the maths, write its outputs."""
