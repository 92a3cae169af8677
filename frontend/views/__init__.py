"""Server-rendered pages, one module per area (dashboard, study, animal, session, …).

Every view starts from ``frontend.access.study_for`` — the API's rule: another study's
records answer 404, a role too weak for the action answers 403.
"""
