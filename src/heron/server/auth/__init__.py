"""Governance on the team server (``heron server --auth``): who asks (:mod:`.identity`), what
each route needs (:mod:`.permissions`, declared per face), the one check every request passes
(:mod:`.guard`), the admin API (:mod:`.admin_api`) and the dashboard's sign-in (:mod:`.login`).
"""
