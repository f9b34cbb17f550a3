"""Per-transition quantities the views colour by: TD-errors, Q/V (``td``) and discounted returns (``returns``)."""
