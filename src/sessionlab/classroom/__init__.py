"""The course in a classroom: student work folders, nbgrader's exchange, JupyterHub.

Modules: :mod:`~.workfolder` (lessons copied into a student's own folder and updated without
ever overwriting the student's edits), :mod:`~.exchange` (the course-local nbgrader exchange
and the Jupyter configuration of the student's and the instructor's screens), :mod:`~.class_hub`
(one JupyterHub for a class) and :mod:`~.limits` (per-user memory and CPU limits).
"""
