"""Events beyond HTTP: messages from brokers, schedules and asynchronous invocations."""

from .triggers import MessageTrigger, ScheduleTrigger, TriggerError, Triggers, parse_triggers

__all__ = ["MessageTrigger", "ScheduleTrigger", "TriggerError", "Triggers", "parse_triggers"]
