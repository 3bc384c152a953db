"""Gymnasium environments for glimpsing and painting, registered in this one place.

Importing ``envs`` registers every environment with Gymnasium. No environment is registered yet:
the glimpse and painting environments build on ``glimpse.ram.Rollout`` and the canvas, and land
with their own issues.
"""
