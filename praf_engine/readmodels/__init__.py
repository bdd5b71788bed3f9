"""Read models of the dashboard: each module owns its queries and answers with the DTOs of ``readmodels.dto``.

``dashboard`` (the seed's summary, the KPI cards, one snapshot of the whole dashboard), ``panels`` (timeliness,
completeness, quality, fetch health, universe), ``triage`` (the failures list, its filters, triage and CSV
export), ``symbol`` (one listing's page), ``jobs`` (the job list and runs). ``rows`` maps database rows to DTOs.
They are reached through ``praf_engine.service``; they never import ``praf_engine.jobs`` (the service hands
them the job list) nor Textual.
"""
