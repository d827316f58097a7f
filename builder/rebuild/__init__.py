"""`vmapp-build rebuild`: the catalogue rebuilt, where something changed upstream, and nothing else.

For each (recipe, target) of the catalogue (builder.catalogue): find the last build under the output
root (history), check it cheaply against today's repositories (check), and only when something changed
build the next version (version), verify it with the lifecycle from the last one, and report (report).
"""
