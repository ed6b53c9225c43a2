"""Publish the built book: push ``book/_build/html`` to the ``gh-pages`` branch (ghp-import, the
Jupyter Book 1.x convention), from where GitHub Pages serves it.

    make publish                              # = python -m booktools.publish
    python -m booktools.publish --remote origin --branch gh-pages
    python -m booktools.publish --no-push     # commit to the local gh-pages branch only

The branch gets exactly the HTML tree plus ``.nojekyll`` (GitHub Pages would otherwise hide the
``_static`` and ``_images`` folders), as one new commit on top of the branch. The HTML must exist
(``make book``); nothing is built here. ``.github/workflows/book.yml`` builds and deploys the book
on every push to ``main`` instead.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from . import BOOK_DIR, REPO

HTML_DIR = BOOK_DIR / "_build" / "html"


class PublishError(RuntimeError):
    """The book cannot be published as asked; the message says what to do."""


def publish(
    html_dir: str | Path = HTML_DIR,
    repo: str | Path = REPO,
    remote: str = "origin",
    branch: str = "gh-pages",
    push: bool = True,
    message: str | None = None,
) -> str:
    """Commit ``html_dir`` as the whole content of ``branch`` in the git repository ``repo`` and
    (``push``) push it to ``remote``. Returns the commit id of the published tree."""
    html_dir, repo = Path(html_dir).resolve(), Path(repo).resolve()
    if not (html_dir / "index.html").is_file():
        raise PublishError(f"{html_dir} has no index.html: build the book first (`make book`)")
    git = ["git", "-C", str(repo)]
    if subprocess.run([*git, "rev-parse", "--git-dir"], capture_output=True).returncode != 0:
        raise PublishError(f"{repo} is not a git repository")
    if push and subprocess.run([*git, "remote", "get-url", remote], capture_output=True).returncode != 0:
        raise PublishError(f"the repository has no remote {remote!r} (`git remote -v`); give --remote or --no-push")
    if push:  # start from the remote's branch, so that publishing adds a commit instead of rewriting it
        subprocess.run(
            [*git, "fetch", "--quiet", remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}"],
            capture_output=True,
        )
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    cmd = [
        sys.executable,
        "-m",
        "ghp_import",
        "--no-jekyll",
        "--remote",
        remote,
        "--branch",
        branch,
        "--message",
        message or f"Publish the book (built from {head or 'an uncommitted tree'})",
    ]
    if push:
        cmd.append("--push")
    res = subprocess.run([*cmd, str(html_dir)], cwd=repo, capture_output=True, text=True)
    if res.returncode != 0:
        raise PublishError(f"ghp-import failed (exit {res.returncode}): {(res.stderr or res.stdout).strip()}")
    return subprocess.run([*git, "rev-parse", branch], capture_output=True, text=True, check=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m booktools.publish",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--html", default=str(HTML_DIR), help="the built book (default: book/_build/html)")
    p.add_argument("--repo", default=str(REPO), help="the git repository to publish from")
    p.add_argument("--remote", default="origin")
    p.add_argument("--branch", default="gh-pages")
    p.add_argument("--no-push", action="store_true", help="commit to the local branch only")
    p.add_argument("--message", default=None)
    args = p.parse_args(argv)
    try:
        commit = publish(args.html, args.repo, args.remote, args.branch, not args.no_push, args.message)
    except PublishError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    where = f"{args.remote}/{args.branch}" if not args.no_push else f"the local branch {args.branch}"
    print(f"published {args.html} to {where} ({commit[:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
