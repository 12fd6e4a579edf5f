"""OrbitCloud: a Gymnasium environment for job placement in an orbital compute cloud."""
