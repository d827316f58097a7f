"""Windows applications: the installers' payload stage (`build`, `bundle`) and verification under
Wine (`verify`, `wine`). Their plan is builder.plan.windows and their cmd strings come from
builder.render, like every other target's."""
