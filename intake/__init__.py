"""The intake service: takes posts from the forum's forms (see intake.app)."""
