"""Outputs besides MQTT (CONTRACT "Other sinks"): webhooks and Cursor-on-Target, each with its own durable
queue. `monitor.sinks.settings` is the [[sinks]] section; `monitor.sinks.manager` runs them in the daemon.

(Kept empty of imports: monitor.config imports the settings module, and every command loads settings.)
"""
