"""Importers: real history (process-mining event logs, RPA robot logs) as alignwatch events.

``xes`` streams XES logs, ``uipath`` reads UiPath robot logs, ``mapping`` declares how a
log maps onto a strategy, ``output`` sends the events to a JSON-lines file, the store or
Kafka, leaving nothing half-imported when the log turns out to be broken.
"""
