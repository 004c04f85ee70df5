"""The three-tier gate: pure checks by tier and the decision that runs them."""
