"""The demo's real git repository: a few weeks of a small team's work on the churn model.

Built with the ``git`` command itself (dates through ``GIT_AUTHOR_DATE``/``GIT_COMMITTER_DATE``),
so the git connector reads it exactly as it would read a client's clone: feature branches named
after tickets, ticket keys in messages, pull requests merged the way GitHub merges them, and a
couple of commits that name no ticket at all.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from demo.story import HOA, LINH, MINH, QUANG, REPO, Clock, Member

GITHUB_COMMITTER = ("GitHub", "noreply@github.com")


@dataclass
class Branch:
    """A branch pushed for a pull request: its commits and where it was cut from."""

    name: str
    tip: str = ""
    commits: list[str] = field(default_factory=list)


class DemoRepo:
    """A thin wrapper over ``git`` in one folder; records SHAs under story labels."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.shas: dict[str, str] = {}
        self.branches: dict[str, Branch] = {}
        path.mkdir(parents=True)
        self._git("init", "--quiet", "--initial-branch=main")

    def _git(self, *args: str, env: dict[str, str] | None = None) -> str:
        base = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        base.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"})
        result = subprocess.run(["git", *args], cwd=self.path, env={**base, **(env or {})},
                                check=True, capture_output=True, text=True)
        return result.stdout.strip()

    @staticmethod
    def _env(author: Member, when: datetime, committer: tuple[str, str] | None = None) -> dict[str, str]:
        stamp = when.isoformat()
        name, email = committer or (author.name, author.email)
        return {"GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email, "GIT_AUTHOR_DATE": stamp,
                "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": stamp}

    def switch(self, branch: str, create_from: str | None = None) -> None:
        if create_from is None:
            self._git("switch", "--quiet", branch)
        else:
            self._git("switch", "--quiet", "-c", branch, create_from)
            self.branches[branch] = Branch(branch)

    def commit(self, label: str, author: Member, when: datetime, message: str, path: str, text: str) -> str:
        """Append ``text`` to ``path`` and commit it; returns the SHA, also kept under ``label``."""
        target = self.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as handle:
            handle.write(text.rstrip("\n") + "\n\n")
        self._git("add", path)
        self._git("commit", "--quiet", "--no-gpg-sign", "-m", message, env=self._env(author, when))
        sha = self._git("rev-parse", "HEAD")
        self.shas[label] = sha
        current = self._git("branch", "--show-current")
        if current in self.branches:
            self.branches[current].commits.append(sha)
            self.branches[current].tip = sha
        return sha

    def log(self, ref: str = "main") -> list[dict[str, str | list[str]]]:
        """The commits reachable from ``ref``, newest first, as GitHub's commit listing orders them."""
        fields = ("sha", "parents", "author_name", "author_email", "authored_at",
                  "committer_name", "committer_email", "committed_at", "message")
        text = self._git("log", ref, "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI%x1f%B%x1e")
        commits = []
        for chunk in filter(None, (part.strip("\n") for part in text.split("\x1e"))):
            record: dict[str, str | list[str]] = dict(zip(fields, chunk.split("\x1f"), strict=True))
            record["parents"] = str(record["parents"]).split()
            record["message"] = str(record["message"]).strip()
            commits.append(record)
        return commits

    def merge_pull(self, label: str, number: int, branch: str, merger: Member, when: datetime, title: str) -> str:
        """Merge ``branch`` into main as GitHub's merge button does (a merge commit by "GitHub")."""
        self.switch("main")
        message = f"Merge pull request #{number} from {REPO.split('/')[0]}/{branch}\n\n{title}"
        self._git("merge", "--quiet", "--no-ff", "--no-gpg-sign", "-m", message, branch,
                  env=self._env(merger, when, GITHUB_COMMITTER))
        sha = self._git("rev-parse", "HEAD")
        self.shas[label] = sha
        return sha


def build_repository(path: Path, clock: Clock) -> DemoRepo:
    """Write the whole history; every SHA the MLflow runs and GitHub pulls need is in ``shas``."""
    repo = DemoRepo(path)
    _project_start(repo, clock)
    _usage_features_and_sweep(repo, clock)
    _leakage_fix(repo, clock)
    _support_features_and_tuning(repo, clock)
    _drivers_and_retrain(repo, clock)
    repo.switch("main")
    return repo


def _project_start(repo: DemoRepo, c: Clock) -> None:
    repo.commit("skeleton", LINH, c.at(19, "09:30"), "Project skeleton: package layout, Makefile, README",
                "README.md", "# Acme churn model\n\nPredicts which subscribers will cancel in the next 30 days.")
    repo.commit("load_export", HOA, c.at(19, "14:10"), "CHURN-1: load the nightly subscription export",
                "src/churn/data.py", 'def load_subscriptions(path):\n    """The nightly export, one row per'
                ' subscription."""\n    return pd.read_parquet(path)')
    repo.commit("label", LINH, c.at(17, "10:05"),
                "CHURN-2: churn label = 30 days without an active subscription\n\nAgreed with Carol on CHURN-2.",
                "src/churn/label.py", "CHURN_GAP_DAYS = 30\n\n\ndef churned(last_active, as_of):\n"
                "    return (as_of - last_active).days >= CHURN_GAP_DAYS")
    repo.commit("baseline", LINH, c.at(16, "11:20"), "CHURN-1: baseline logistic regression with MLflow tracking",
                "src/churn/train.py", "def train_baseline(features, labels):\n    model = LogisticRegression("
                "max_iter=1000)\n    mlflow.log_params(model.get_params())\n    return model.fit(features, labels)")
    repo.commit("onboarding", QUANG, c.at(16, "16:40"), "Add onboarding notes to the README",
                "README.md", "## Getting started\n\n    make data\n    make train")


def _usage_features_and_sweep(repo: DemoRepo, c: Clock) -> None:
    repo.switch("feature/CHURN-3-usage-features", create_from="main")
    repo.commit("usage_daily", HOA, c.at(15, "10:00"), "CHURN-3: daily usage aggregates per customer",
                "src/churn/features.py", "def daily_usage(events):\n    return events.groupby(['customer_id',"
                " 'day']).agg(sessions=('session_id', 'nunique'), minutes=('minutes', 'sum'))")
    repo.commit("usage_windows", HOA, c.at(14, "15:30"), "CHURN-3: rolling 7- and 30-day usage windows",
                "src/churn/features.py", "def usage_windows(daily):\n    return {f'minutes_{n}d': daily.rolling"
                "(n).minutes.sum() for n in (7, 30)}")
    repo.switch("main")
    repo.switch("feature/CHURN-4-sweep", create_from="main")
    repo.commit("gbm", MINH, c.at(13, "14:00"), "CHURN-4: gradient boosting model",
                "src/churn/train.py", "def train_gbm(features, labels, **params):\n"
                "    return LGBMClassifier(**params).fit(features, labels)")
    repo.switch("feature/CHURN-3-usage-features")
    repo.commit("usage_review", HOA, c.at(13, "11:00"), "CHURN-3: document the window edges (review)",
                "src/churn/features.py", "# Windows end the day before the label date, never on it.")
    repo.merge_pull("merge_pr1", 1, "feature/CHURN-3-usage-features", LINH, c.at(12, "10:15"),
                    "CHURN-3: usage aggregate features")
    repo.switch("feature/CHURN-4-sweep")
    repo.commit("sweep", MINH, c.at(12, "16:00"), "CHURN-4: sweep learning rate, depth and estimators",
                "sweeps/gbm.yaml", "learning_rate: [0.03, 0.05, 0.1]\nnum_leaves: [31, 63]\nn_estimators: [300, 600]")
    repo.merge_pull("merge_pr2", 2, "feature/CHURN-4-sweep", LINH, c.at(11, "15:00"),
                    "CHURN-4: gradient boosting sweep")
    repo.commit("features_v2", HOA, c.at(11, "17:00"), "CHURN-3: feature set v2 with usage windows",
                "src/churn/features.py", "FEATURE_SET_V2 = ['minutes_7d', 'minutes_30d', 'plan', 'tenure_days']")


def _leakage_fix(repo: DemoRepo, c: Clock) -> None:
    repo.switch("fix/CHURN-5-group-split", create_from="main")
    repo.commit("group_split", LINH, c.at(9, "11:00"), "CHURN-5: split train/validation by customer_id",
                "src/churn/split.py", "def split(frame):\n    return GroupShuffleSplit(test_size=0.2, "
                "random_state=7).split(frame, groups=frame.customer_id)")
    repo.commit("split_check", LINH, c.at(9, "15:30"), "CHURN-5: assert no customer is in both splits",
                "tests/test_split.py", "def test_no_customer_in_both_splits(frame):\n"
                "    train, val = split(frame)\n    assert not set(train.customer_id) & set(val.customer_id)")
    repo.commit("holdout_split", LINH, c.at(8, "10:00"), "CHURN-5: group the holdout split too (review)",
                "src/churn/split.py", "def holdout(frame):\n    return split(frame)  # same grouping for the test set")
    repo.merge_pull("merge_pr3", 3, "fix/CHURN-5-group-split", LINH, c.at(7, "09:15"),
                    "CHURN-5: split by customer to fix leakage")
    repo.switch("experiment/dart-boosting", create_from="main")
    repo.commit("dart", MINH, c.at(7, "11:00"), "Try DART boosting",
                "src/churn/train.py", "DART_PARAMS = {'boosting_type': 'dart', 'drop_rate': 0.1}")


def _support_features_and_tuning(repo: DemoRepo, c: Clock) -> None:
    repo.switch("feature/CHURN-6-support-features", create_from="main")
    repo.commit("support_join", HOA, c.at(7, "14:00"), "CHURN-6: join support tickets per customer",
                "src/churn/features.py", "def support_features(tickets):\n    return tickets.groupby("
                "'customer_id').agg(tickets_90d=('id', 'count'))")
    repo.commit("support_sentiment", HOA, c.at(6, "10:30"),
                "CHURN-6: ticket sentiment and time-to-resolution features",
                "src/churn/features.py", "def sentiment(messages):\n    customer_only = messages[messages."
                "author_role == 'customer']\n    return scorer(customer_only.text).mean()")
    repo.commit("support_test", HOA, c.at(5, "09:00"), "CHURN-6: score customer messages only (review)",
                "tests/test_features.py", "def test_agent_notes_are_not_scored(messages):\n"
                "    assert 'agent' not in sentiment_inputs(messages).author_role.unique()")
    repo.merge_pull("merge_pr4", 4, "feature/CHURN-6-support-features", LINH, c.at(5, "09:30"),
                    "CHURN-6: support-ticket features")
    repo.commit("tune", MINH, c.at(4, "10:00"), "CHURN-7: tune learning rate and min_child_samples",
                "sweeps/gbm.yaml", "learning_rate: 0.04\nmin_child_samples: 40")
    repo.commit("seeds", MINH, c.at(3, "14:00"), "CHURN-7: average predictions over three seeds",
                "src/churn/train.py", "SEEDS = (7, 11, 23)")
    repo.commit("typo", QUANG, c.at(3, "16:30"), "Fix typos in the README",
                "README.md", "Predictions are refreshed nightly.")


def _drivers_and_retrain(repo: DemoRepo, c: Clock) -> None:
    repo.switch("feature/CHURN-12-shap", create_from="main")
    repo.commit("shap", LINH, c.at(2, "11:00"), "CHURN-12: SHAP summary of the top churn drivers",
                "src/churn/explain.py", "def top_drivers(model, frame, n=10):\n"
                "    values = shap.TreeExplainer(model).shap_values(frame)\n    return rank(values)[:n]")
    repo.commit("shap_words", LINH, c.at(1, "10:00"), "CHURN-12: plain-language driver descriptions for CS",
                "src/churn/explain.py", "DESCRIPTIONS = {'minutes_30d': 'Less use in the last month'}")
    repo.switch("main")
    repo.commit("retrain_job", MINH, c.at(1, "16:00"), "CHURN-11: monthly retrain job",
                "jobs/retrain.py", "def retrain(snapshot):\n    return train_gbm(*load(snapshot), **BEST_PARAMS)")
    repo.commit("retrain_march", MINH, c.ago(100), "CHURN-11: point the retrain at the March snapshot",
                "jobs/retrain.py", "SNAPSHOT = 's3://acme-analytics/churn/2024-03/'")

