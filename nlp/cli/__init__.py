"""Command lines of nlp/: plain entry modules, each `python -m nlp.cli.<name> --help`.

    classify   JSON lines in, JSON lines out
    train      a model directory from labelled messages
    evaluate   per-class report and macro-F1 of a model on labelled messages
    rules      lint the emergency rules and run their examples
"""
