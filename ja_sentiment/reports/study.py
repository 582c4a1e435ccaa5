"""The Level 4 report of a study (`<out>/study.md`, in `report.language`) and its pictures.

For each countermeasure: what it does and why it may reduce overfitting, with its sources
(ja_sentiment/countermeasures.py); then what this study measured about it (facts: spread over seeds,
the difference from the baseline with its two-level interval, p-values and the Holm-adjusted verdict,
the learning curves' overfitting figures); then what that may mean, worded as possibilities. A
countermeasure that the study did not run still gets its explanation and sources.

Pictures (PNG, Japanese text in the project's font): learning curves per configuration (train and
dev plain cross-entropy per epoch, mean over seeds with a min-max band), all dev-loss curves in one
figure, and a forest plot of the differences with their intervals.
"""

# ruff: noqa: E501  (a table of sentences: breaking them mid-phrase would hurt more than long lines)
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from ja_sentiment.countermeasures import COUNTERMEASURES
from ja_sentiment.plotting import japanese_font
from ja_sentiment.reports.markdown import p_value, verdict_text
from ja_sentiment.reports.text import TABLES as REPORT_TABLES
from ja_sentiment.reports.text import Text
from ja_sentiment.stats import BETTER, WORSE

EN = {
    "title": "Level 4 study `{study}`: overfitting countermeasures over seeds",
    "standin": "**Made with offline stand-ins, not the real models** (`standin: true`): these numbers say nothing about the real models.",
    "left_out": "**Experiments left out** (the numbers below do not count them; running the study again runs those that failed or have not run): {items}.",
    "intro": "Every configuration ran with the same seeds ({seeds}) as DVC experiments `{study}-<config>-s<seed>-<identity>` (see `dvc exp show`), fine-tuning and evaluation only. The identity is a digest of the code, params and data an experiment runs with; a finished experiment with the same identity (from another study or baseline commit) is reused, and a number counts only when its experiment's records show it is its own (`study.json`: `provenance`). Scores are on the {rows} test rows. Baseline: `{baseline}` (params.yaml as it is).",
    "how": "How to read the numbers. Differences are configuration minus baseline, in points (1 point = 0.01). Each 95% interval counts both kinds of noise, the seed-to-seed variation and the test set's sampling noise, paired by seed and by row: a crossed seed x row random-effects estimate by the method of moments on the per-row contributions (macro-F1 jackknifed per row), with a t quantile on the seed level's degrees of freedom (seeds − 1), so that few seeds give wide intervals. Simulated with known truth, this method holds its family-wise error at or below 0.05 at 2 to 10 seeds (docs/statistics.md). The first interval is unadjusted; the second (simultaneous) is at the Bonferroni level across the study's {tests} countermeasures and covers all their differences at once. The verdicts are adjusted: better or worse only when the Holm-adjusted p-value across the {tests} countermeasures on macro-F1 (the primary metric) is below {alpha}. Accuracy is reported beside it. Read a wide interval as \"not enough seeds\", not as \"no effect\".",
    "configs": "Configurations over seeds",
    "configs_header": "| configuration | countermeasure | overrides | seeds | macro-F1 mean ± sd [min, max] | accuracy mean ± sd [min, max] | kept epoch | epoch of lowest dev loss | dev-loss rise after its minimum | dev − train loss at kept epoch |",
    "configs_note": "Losses: plain cross-entropy against the gold labels in eval mode, on dev and on a fixed train sample of dev's size, whatever loss the configuration trains with; one value per seed. Kept epoch: the epoch of best dev macro-F1, whose model is evaluated.",
    "comparisons": "Each countermeasure against the baseline",
    "comparisons_header": "| configuration | seeds | Δ macro-F1, points [95% interval] | [simultaneous interval] | p | Holm p | Δ accuracy, points [95% interval] | Holm p | verdict (macro-F1) |",
    "forest": "Differences from the baseline (macro-F1, points, 95% intervals counting seeds and test rows)",
    "curves": "Learning curves (plain cross-entropy, mean over seeds, min-max band)",
    "dev_curves": "Dev loss of every configuration",
    "each": "Countermeasures: what they do, what was measured, what it may mean",
    "what": "What it does",
    "baseline_note": "What the baseline already does",
    "sources": "Sources",
    "measured": "Measured in this study (facts)",
    "meaning": "What it may mean (possibilities, not facts)",
    "not_run": "Not run in this study.",
    "params": "Params: {params}.",
    "fact_scores": "`{config}` ({overrides}) over {n} seeds: macro-F1 {f1}, accuracy {acc} (mean ± sd).",
    "fact_diff": "Difference from the baseline: macro-F1 {f1} points, accuracy {acc} points (95% intervals counting seeds and test rows, {n} paired seeds; simultaneous across the countermeasures: macro-F1 {f1_sim}); p = {p}, Holm-adjusted p = {q}. Verdict: {verdict}.",
    "fact_seeds_only": "For comparison, an interval counting the seeds alone (paired t over the per-seed differences, on this one test set): {seeds_only} points.",
    "fact_curves": "Dev loss rose by {rise} after its minimum (baseline: {base_rise}); dev minus train loss at the kept epoch: {gap} (baseline: {base_gap}); means over seeds.",
    "may_better": "The countermeasure may improve macro-F1 on data like this test set; the size of the gain is uncertain within the interval.",
    "may_worse": "The countermeasure may hurt macro-F1 here, at least with the value tried; another value may behave differently.",
    "may_unclear": "An effect may exist and be too small for this study to show: the data are compatible with differences from {low} to {high} points. More seeds would narrow the seed level of the interval; the test set's 553 rows bound how narrow it can get.",
    "may_less_overfit": "It may have reduced the overfitting the curves show (a smaller rise of dev loss after its minimum than the baseline's); this is a description over {n} seeds, without a test.",
    "may_more_overfit": "The dev-loss curves rose more after their minimum than the baseline's; the countermeasure may not act on overfitting in this setting, or the value tried may be too weak; a description over {n} seeds, without a test.",
    "may_gap": "A smaller gap between dev and train loss at the kept epoch (than the baseline's) may mean the kept model fits the training rows less tightly.",
    "epoch": "epoch", "train_ce": "train (sample)", "dev_ce": "dev", "loss": "cross-entropy",
    "diff_axis": "macro-F1 difference from the baseline (points)",
}

JA = {
    "title": "Level 4 の実験 `{study}`: 複数シードでの過学習対策",
    "standin": "**実際のモデルではなくオフラインの代替モデルによる結果**(`standin: true`): この数値は実際のモデルについて何も示さない。",
    "left_out": "**除外した実験**(以下の数値には含まない。実験をもう一度実行すると、失敗した実験とまだ実行していない実験だけを実行する): {items}。",
    "intro": "すべての設定を同じシード({seeds})で DVC の実験 `{study}-<config>-s<seed>-<identity>` として実行した(`dvc exp show` で見られる)。実行したのは fine-tuning と評価だけ。identity は実験のコード・params・データのダイジェストで、同じ identity の終わった実験(他の実験計画や他の基準コミットのものでも)は再利用する。数値は、その実験自身のものであることを記録が示すときだけ数える(`study.json` の `provenance`)。スコアはテストの {rows} 行で計算。基準: `{baseline}`(params.yaml そのまま)。",
    "how": "数値の読み方。差は 設定 − 基準 で、単位はポイント(1 ポイント = 0.01)。各 95% 区間は、シード間のばらつきとテストセットの標本誤差の両方を、シードと行で対応させて数える: 行ごとの寄与(macro-F1 は行ごとのジャックナイフ)に対する、シード × 行の交差ランダム効果のモーメント法による推定で、t 分布の自由度はシードの段の自由度(シード数 − 1)とする。そのためシードが少ないと区間は広い。正解を知っているシミュレーションで、この方法は 2〜10 シードで family-wise error を 0.05 以下に保つ(docs/statistics.md)。最初の区間は補正なし、二つ目(同時区間)は実験の {tests} 個の対策についての Bonferroni 水準で、すべての差を同時に含む。判定は補正あり: macro-F1(主指標)について {tests} 個の対策に Holm 補正した p 値が {alpha} 未満のときだけ「優れる」「劣る」とする。正解率も併記する。広い区間は「効果がない」ではなく「シードが足りない」と読む。",
    "configs": "設定ごとの複数シードの結果",
    "configs_header": "| 設定 | 対策 | 上書き | シード | macro-F1 平均 ± 標準偏差 [最小, 最大] | 正解率 平均 ± 標準偏差 [最小, 最大] | 採用エポック | dev 損失が最小のエポック | 最小後の dev 損失の上昇 | 採用エポックでの dev − train 損失 |",
    "configs_note": "損失: 設定が学習に使う損失によらず、正解ラベルに対する通常の交差エントロピー(評価モード)。dev と、dev と同じ大きさの固定した学習データの標本で計算。値はシードごと。採用エポック: dev の macro-F1 が最良のエポックで、そのモデルを評価する。",
    "comparisons": "各対策と基準の比較",
    "comparisons_header": "| 設定 | シード | macro-F1 の差(ポイント)[95% 区間] | [同時区間] | p | Holm p | 正解率の差(ポイント)[95% 区間] | Holm p | 判定(macro-F1) |",
    "forest": "基準との差(macro-F1、ポイント、シードとテスト行を数えた 95% 区間)",
    "curves": "学習曲線(通常の交差エントロピー、シード平均、最小〜最大の帯)",
    "dev_curves": "全設定の dev 損失",
    "each": "対策ごとに: 何をするか、何を測ったか、何を意味しうるか",
    "what": "何をするか",
    "baseline_note": "基準がすでにしていること",
    "sources": "出典",
    "measured": "この実験で測ったこと(事実)",
    "meaning": "意味しうること(可能性であり事実ではない)",
    "not_run": "この実験では実行していない。",
    "params": "パラメータ: {params}。",
    "fact_scores": "`{config}`({overrides})、{n} シード: macro-F1 {f1}、正解率 {acc}(平均 ± 標準偏差)。",
    "fact_diff": "基準との差: macro-F1 {f1} ポイント、正解率 {acc} ポイント(シードとテスト行を数えた 95% 区間、対応するシード {n} 個。対策全体の同時区間: macro-F1 {f1_sim})。p = {p}、Holm 補正 p = {q}。判定: {verdict}。",
    "fact_seeds_only": "参考: シードだけを数えた区間(シードごとの差の対応のある t、この一つのテストセットで): {seeds_only} ポイント。",
    "fact_curves": "dev 損失は最小値の後 {rise} 上昇した(基準: {base_rise})。採用エポックでの dev − train 損失: {gap}(基準: {base_gap})。いずれもシード平均。",
    "may_better": "この対策は、このテストセットのようなデータで macro-F1 を改善する可能性がある。改善の大きさは区間の範囲で不確かである。",
    "may_worse": "この対策は、少なくとも試した値では、ここでの macro-F1 を下げる可能性がある。別の値では異なる可能性がある。",
    "may_unclear": "効果があっても小さく、この実験では示せない可能性がある。データは {low} 〜 {high} ポイントの差と両立する。シードを増やせば区間のシードの段は狭くなるが、テストセットの 553 行が狭さの限界を決める。",
    "may_less_overfit": "曲線に見える過学習を減らした可能性がある(最小後の dev 損失の上昇が基準より小さい)。これは {n} シードでの記述で、検定はしていない。",
    "may_more_overfit": "dev 損失の曲線は最小後に基準より大きく上昇した。この設定では過学習に効かない可能性も、試した値が弱すぎる可能性もある。{n} シードでの記述で、検定はしていない。",
    "may_gap": "採用エポックでの dev と train の損失の差が基準より小さいことは、採用したモデルが学習データに合わせすぎていないことを意味する可能性がある。",
    "epoch": "エポック", "train_ce": "学習(標本)", "dev_ce": "dev", "loss": "交差エントロピー",
    "diff_axis": "基準との macro-F1 の差(ポイント)",
}

# The verdict words are the other reports' (reports/text.py), so that a verdict reads the same everywhere.
VERDICT_KEYS = ("better", "worse", "not distinguishable", "compatible")
TABLES = {lang: {**{k: REPORT_TABLES[lang][k] for k in VERDICT_KEYS}, **table}
          for lang, table in (("en", EN), ("ja", JA))}


def points(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:+.1f}"


def spread(s: dict) -> str:
    sd = "–" if s["std"] is None else f"{s['std']:.4f}"
    return f"{s['mean']:.4f} ± {sd} [{s['min']:.4f}, {s['max']:.4f}]"


def mean_of(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def fmt(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def overrides_text(entry: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in entry["set"].items()) or "params.yaml"


def configs_table(t: Text, result: dict) -> list[str]:
    lines = [t("configs_header"), "|" + "---|" * 10]
    for name, c in result["configs"].items():
        o = c["overfitting"]
        cells = [f"`{name}`", c["countermeasure"] or "–", overrides_text(c), ", ".join(map(str, c["seeds"])),
                 spread(c["macro_f1"]), spread(c["accuracy"]),
                 ", ".join("–" if e is None else str(e) for e in o["kept_epoch"]),
                 ", ".join("–" if e is None else str(e) for e in o["min_dev_ce_epoch"]),
                 ", ".join(fmt(v, 3) for v in o["dev_ce_rise"]), ", ".join(fmt(v, 3) for v in o["gap_at_kept"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def interval_points(c: dict) -> str:
    return f"{points(c['diff'])} [{points(c['ci_low'])}, {points(c['ci_high'])}]"


def simultaneous_points(c: dict) -> str:
    return f"[{points(c['ci_low_simultaneous'])}, {points(c['ci_high_simultaneous'])}]"


def comparisons_table(t: Text, result: dict) -> list[str]:
    lines = [t("comparisons_header"), "|" + "---|" * 9]
    for name, comp in result["comparisons"].items():
        f1, acc = comp["macro_f1"], comp["accuracy"]
        lines.append(f"| `{name}` | {f1['seeds']} | {interval_points(f1)} | {simultaneous_points(f1)} | "
                     f"{p_value(f1['p'])} | "
                     f"{p_value(f1['p_holm'])} | {interval_points(acc)} | {p_value(acc['p_holm'])} | "
                     f"{verdict_text(f1['verdict'], f1['ci_low'], f1['ci_high'], t)} |")
    return lines


def countermeasure_section(t: Text, key: str, result: dict) -> list[str]:
    cm = COUNTERMEASURES[key]
    lang = t.language
    lines = [f"### {key}", "", f"**{t('what')}.** {cm.what[lang]}", "", t("params", params=", ".join(
        f"`{p}`" for p in cm.params)), ""]
    if cm.baseline_note.get(lang):
        lines += [f"**{t('baseline_note')}.** {cm.baseline_note[lang]}", ""]
    lines += [f"**{t('sources')}.**", "", *[f"- {s.cite()}" for s in cm.sources], ""]
    runs = [c for c, entry in result["configs"].items() if entry["countermeasure"] == key]
    if not runs:
        return [*lines, f"*{t('not_run')}*", ""]
    base = result["configs"][result["baseline"]]
    for config in runs:
        entry, comp = result["configs"][config], result["comparisons"].get(config)
        facts = [t("fact_scores", config=config, overrides=overrides_text(entry), n=len(entry["seeds"]),
                   f1=spread(entry["macro_f1"]), acc=spread(entry["accuracy"]))]
        may = []
        if comp:
            f1, acc = comp["macro_f1"], comp["accuracy"]
            facts.append(t("fact_diff", f1=interval_points(f1), acc=interval_points(acc), n=f1["seeds"],
                           f1_sim=simultaneous_points(f1),
                           p=p_value(f1["p"]), q=p_value(f1["p_holm"]),
                           verdict=verdict_text(f1["verdict"], f1["ci_low"], f1["ci_high"], t)))
            so = f1["seeds_only"]
            if so["ci_low"] is not None:
                facts.append(t("fact_seeds_only", seeds_only=f"[{points(so['ci_low'])}, {points(so['ci_high'])}]"))
            may.append(t("may_better") if f1["verdict"] == BETTER else t("may_worse") if f1["verdict"] == WORSE
                       else t("may_unclear", low=points(f1["ci_low"]), high=points(f1["ci_high"])))
        rise, base_rise = mean_of(entry["overfitting"]["dev_ce_rise"]), mean_of(base["overfitting"]["dev_ce_rise"])
        gap, base_gap = mean_of(entry["overfitting"]["gap_at_kept"]), mean_of(base["overfitting"]["gap_at_kept"])
        if rise is not None and base_rise is not None:
            facts.append(t("fact_curves", rise=fmt(rise, 3), base_rise=fmt(base_rise, 3), gap=fmt(gap, 3),
                           base_gap=fmt(base_gap, 3)))
            if rise < base_rise:
                may.append(t("may_less_overfit", n=len(entry["seeds"])))
            elif rise > base_rise:
                may.append(t("may_more_overfit", n=len(entry["seeds"])))
            if gap is not None and base_gap is not None and gap < base_gap:
                may.append(t("may_gap"))
        lines += [f"**{t('measured')}.**", "", *[f"- {f}" for f in facts], "",
                  f"**{t('meaning')}.**", "", *[f"- {m}" for m in may], ""]
    return lines


def markdown(result: dict, language: str) -> str:
    t = Text(language, TABLES)
    base = result["configs"][result["baseline"]]
    rows = next(iter(result["comparisons"].values()))["macro_f1"]["rows"] if result["comparisons"] else "–"
    lines = [f"# {t('title', study=result['study'])}", ""]
    if result.get("standin"):
        lines += [t("standin"), ""]
    if result.get("left_out"):
        items = "; ".join(f"`{e['name']}`: {e['why']}" for e in result["left_out"])
        lines += [t("left_out", items=items), ""]
    lines += [t("intro", seeds=", ".join(map(str, base["seeds"])), study=result["study"], rows=rows,
                baseline=result["baseline"]), "",
              t("how", tests=result.get("family", len(result["comparisons"])), alpha=result["alpha"]), "",
              f"## {t('configs')}", "", *configs_table(t, result), "", t("configs_note"), "",
              f"## {t('comparisons')}", "", *comparisons_table(t, result), "",
              f"![{t('forest')}](plots/forest.png)", "",
              f"## {t('curves')}", "", f"![{t('curves')}](plots/learning_curves.png)", "",
              f"![{t('dev_curves')}](plots/dev_loss.png)", "",
              f"## {t('each')}", ""]
    for key in COUNTERMEASURES:
        lines += countermeasure_section(t, key, result)
    return "\n".join(lines) + "\n"


def mean_band(curves: dict[str, dict], key: str) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray] | None:
    """Epochs, mean, min and max over seeds of one curve (epochs every seed has)."""
    per_seed = [c.get(key) for c in curves.values() if c.get(key)]
    if not per_seed:
        return None
    epochs = sorted(set.intersection(*(set(map(int, c)) for c in per_seed)))
    values = np.array([[c.get(e, c.get(str(e))) for e in epochs] for c in per_seed], dtype=float)
    return epochs, values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def plots(result: dict, out: Path, language: str) -> None:
    """plots/learning_curves.png, plots/dev_loss.png and plots/forest.png under `out`."""
    t = Text(language, TABLES)
    japanese_font()
    folder = out / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    configs = result["configs"]
    cols = min(4, len(configs))
    rows = int(np.ceil(len(configs) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False, sharey=True)
    for ax, (name, entry) in zip(axes.flat, configs.items(), strict=False):
        for key, color in (("train_ce", "tab:blue"), ("dev_ce", "tab:orange")):
            band = mean_band(entry["curves"], key)
            if band:
                epochs, mean, low, high = band
                ax.plot(epochs, mean, marker="o", color=color, label=t(key))
                ax.fill_between(epochs, low, high, color=color, alpha=0.2)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(t("epoch"))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes.flat[len(configs):]:
        ax.axis("off")
    axes[0][0].set_ylabel(t("loss"))
    axes[0][0].legend()
    fig.suptitle(t("curves"))
    fig.tight_layout()
    fig.savefig(folder / "learning_curves.png", dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, entry in configs.items():
        band = mean_band(entry["curves"], "dev_ce")
        if band:
            ax.plot(band[0], band[1], marker="o", label=name, linewidth=2.5 if name == result["baseline"] else 1.2)
    ax.set_xlabel(t("epoch"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(t("loss"))
    ax.set_title(t("dev_curves"))
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(folder / "dev_loss.png", dpi=90)
    plt.close(fig)

    comps = result["comparisons"]
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(comps), 1) + 1.5))
    if comps:
        names = list(comps)[::-1]
        f1 = [comps[n]["macro_f1"] for n in names]
        y = np.arange(len(names))
        colors = ["tab:green" if c["verdict"] == BETTER else "tab:red" if c["verdict"] == WORSE else "tab:gray"
                  for c in f1]
        for yi, c, color in zip(y, f1, colors, strict=True):
            ax.plot([100 * c["ci_low"], 100 * c["ci_high"]], [yi, yi], color=color, linewidth=2)
            ax.plot(100 * c["diff"], yi, "o", color=color)
        ax.set_yticks(y, names)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(t("diff_axis"))
    ax.set_title(t("forest"), fontsize=10)
    fig.tight_layout()
    fig.savefig(folder / "forest.png", dpi=90)
    plt.close(fig)

