"""Remote capture (optional extra ``better_rl_widget[ray]``): collectors on Ray workers stream transitions to a
sink actor, and the notebook's widget draws them as one live buffer.

Above the widget and the capture path (it drives both); Ray is imported only when a remote capture starts."""
