"""The grounding benchmark: an eval set, metrics, a runner and a report (`askai eval`)."""
