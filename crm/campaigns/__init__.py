"""Campaigns: mass messages to a segment of fans in the pipeline's bulk lane.

services.py: the state machine and the batched launch; selectors.py: progress and recipients;
delivery.py: what campaigns ask of the pipeline.
"""
