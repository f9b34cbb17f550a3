"""Analyses of what an agent learned: saliency, TD-errors, returns, skills, continual-RL metrics."""
