"""Ray at the edge: starting it safely, actors and trainables wrapping plain raytrade code."""
