"""The dashboard's Streamlit script inside the package: `probscope dashboard` runs this file."""

from probscope.app.dashboard import main

main()
