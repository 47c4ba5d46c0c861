"""The demo: a keyed, resumable step runner, the demo config, the step bodies and the markdown report."""
