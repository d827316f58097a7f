"""Windows applications: .exe, .msi and .zip installers, their command strings for `cmd /C`, and
verification under Wine.

recipe (the `windows` section) -> plan -> fetch -> bundle -> render -> limits -> manifest, driven by
`build`; `verify` replays the extension in a Wine container.
"""
