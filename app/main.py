"""The dashboard from a checkout: `streamlit run app/main.py [-- --runs DIR]` (same as `probscope dashboard`).

The pages live in the package (probscope/app/), so an installed probscope serves the same dashboard.
"""

from probscope.app.dashboard import main

main()
