"""Running the UDFs as a service: health checks of socket servers and of Kapacitor tasks."""
