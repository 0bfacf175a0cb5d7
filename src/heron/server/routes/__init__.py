"""One router per capability; ``create_app`` includes them all."""
