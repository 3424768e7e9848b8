"""User text (run, dataset, group, objective and benchmark names, tokens, example ids, paths, error messages) inside
the Markdown Streamlit renders: st.markdown, st.caption, st.info/warning/error, headers, widget labels and help,
and the options of st.radio and st.select_slider (not those of st.selectbox and st.multiselect: plain text).

    st.caption(f"Figure 2 of {md(run)} at each chosen probed step.")   # a run dft*? shows as dft*?, not garbled
    st.markdown(f"answer {code(answer)}")                              # inline code, whatever backticks it holds

Only user text goes through md: our own Markdown stays Markdown. Values drawn in charts (Altair) or tables are
shown as given and never escaped; a link's URL is URL-encoded (urlencode), its text escaped with md. In HTML
(st.html, the example viewer's spans) html.escape instead.

What escaping cannot keep (measured in Chromium, tests/app/test_markdown_names.py): Streamlit rewrites the parsed
text itself, so " -- ", " -> " and the like between spaces show as a dash or an arrow, and ":streamlit:" as its logo;
and it rewrites ":material/" to ":material_" before parsing, inside code too.
"""

from __future__ import annotations

import re

# CommonMark shows a backslash-escaped ASCII punctuation character literally. Escaped: those that mean something
# to Streamlit's Markdown (GitHub's, with LaTeX and directives): emphasis * _ ~, code `, links and images [ ] ( ) !,
# headings, lists and quotes # + - . >, tables |, HTML and autolinks < >, entities &, e-mail links @, LaTeX $,
# directive attributes { }, and the backslash itself; others (/ , ; = ' " ? %) stay as they are, readable.
PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&@$])")
# The colon as a character reference, not \: because Streamlit reads the raw text before parsing it: it loads
# its emoji plugin when that holds :name: (a user's \:smile followed by a colon of ours would) and rewrites
# :material/ to :material_ there.
COLON = "&#58;"
BACKTICKS = re.compile(r"`+")


def md(text: object) -> str:
    """`text` (str() of it) escaped so that Streamlit's Markdown shows it literally."""
    return PUNCTUATION.sub(r"\\\1", str(text)).replace(":", COLON)


def code(text: object) -> str:
    """`text` as inline code shown literally: fenced by more backticks than its longest run of them (escapes do not
    work inside code), padded with a space where the fence would take a backtick of its own or Markdown would strip
    a space of its own (one from each end of a code span starting and ending with one)."""
    text = str(text)
    fence = "`" * (max((len(run) for run in BACKTICKS.findall(text)), default=0) + 1)
    stripped = text[:1] == text[-1:] == " " and text.strip(" ")
    pad = " " if not text or "`" in (text[0], text[-1]) or stripped else ""
    return f"{fence}{pad}{text}{pad}{fence}"
