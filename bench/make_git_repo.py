"""Generate a large, realistic git repository with ``git fast-import`` for the ingest benchmark.

Many authors, a few thousand files, ticket keys in messages, and a merge of a feature branch every
fifty commits — built in seconds, deterministic for a given seed.

    python bench/make_git_repo.py /tmp/big-repo --commits 30000
"""

from __future__ import annotations

import argparse
import random
import subprocess
from pathlib import Path

AUTHORS = [(f"Dev {n}", f"dev{n}@agency.example") for n in range(40)] + [("Zoë Ñandú", "zoe@acme.example")]
START = 1_700_000_000


def stream(commits: int, seed: int, start: int = START):
    """Yield the fast-import stream as bytes chunks, the first commit just after ``start`` (epoch seconds)."""
    rng = random.Random(seed)
    files = [f"src/module_{n // 50}/file_{n}.py" for n in range(3000)]
    contents: dict[str, int] = {}
    main_head = None
    when = start
    for index in range(commits):
        mark = index + 1  # fast-import marks start at 1
        when += rng.randint(60, 3600)
        name, email = rng.choice(AUTHORS)
        on_branch = index % 50 in range(40, 49)
        ref = "refs/heads/feature" if on_branch else "refs/heads/main"
        key = f"CHURN-{rng.randint(1, 900)}"
        message = f"{key} {rng.choice(['fix', 'add', 'tune', 'refactor'])} {rng.choice(files).split('/')[-1]}\n\n" \
                  + "Details of the change.\n" * rng.randint(0, 5)
        body = message.encode()
        out = [f"commit {ref}\nmark :{mark}\n".encode(),
               f"author {name} <{email}> {when} +0700\ncommitter {name} <{email}> {when} +0700\n".encode(),
               f"data {len(body)}\n".encode(), body, b"\n"]
        if index % 50 == 40:
            out.append(f"from :{main_head}\n".encode() if main_head else b"")
        if index % 50 == 49 and main_head:
            out.append(f"from :{main_head}\nmerge :{mark - 1}\n".encode())
        for path in rng.sample(files, rng.randint(1, 4)):
            contents[path] = contents.get(path, 0) + 1
            data = "".join(f"line {i} v{contents[path]}\n" for i in range(rng.randint(5, 40))).encode()
            out.append(f"M 644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
        if not on_branch:
            main_head = mark
        yield b"".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--commits", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=int, default=START, help="epoch seconds before the first commit")
    args = parser.parse_args()
    args.path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(args.path)], check=True)
    importer = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=args.path, stdin=subprocess.PIPE)
    assert importer.stdin is not None
    for chunk in stream(args.commits, args.seed, args.start):
        importer.stdin.write(chunk)
    importer.stdin.close()
    if importer.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "checkout", "-q", "main"], cwd=args.path, check=True)


if __name__ == "__main__":
    main()
