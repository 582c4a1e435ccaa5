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
from ja_sentiment.reports.markdown import p_value
from ja_sentiment.reports.text import Text
from ja_sentiment.stats import BETTER, WORSE
from ja_sentiment.study import IDENTICAL, NO_VERDICT
from ja_sentiment.study_stats import CALIBRATED_ALPHA, MEASURED_FWER, measured_fwer, verdict_gate

EN = {
    "title": "Level 4 study `{study}`: overfitting countermeasures over seeds",
    "standin": "**Made with offline stand-ins, not the real models** (`standin: true`): these numbers say nothing about the real models.",
    "left_out": "**Experiments left out** (the numbers below do not count them; running the study again runs those that failed or have not run): {items}.",
    "study_set": "Every configuration, the baseline included, also ran with the study's own overrides: {overrides}.",
    "intro": "Every configuration ran with the same seeds ({seeds}) as DVC experiments `{study}-<config>-s<seed>-<identity>` (see `dvc exp show`), fine-tuning and evaluation only. The identity is a digest of the code, params and data an experiment runs with; a finished experiment with the same identity (from another study or baseline commit) is reused, and a number counts only when its experiment's records show it is its own (`study.json`: `provenance`). Scores are on the {rows} test rows. Baseline: `{baseline}` (params.yaml as it is).",
    "how": "How to read the numbers. Differences are configuration minus baseline, in points (1 point = 0.01). Each 95% interval counts both kinds of noise, the seed-to-seed variation and the test set's sampling noise, paired by seed and by row: a crossed seed x row random-effects estimate by the method of moments on the per-row contributions (macro-F1 jackknifed per row), with a t quantile on the seed level's degrees of freedom (seeds − 1), so that few seeds give wide intervals. The first interval is unadjusted; the second (simultaneous) is at the Bonferroni level across the study's {tests} countermeasures and covers all their differences at once. Verdicts (better, worse) are adjusted: the Holm-adjusted p-value across the {tests} countermeasures on macro-F1 (the primary metric) below {alpha}; and they are given only where the method's error rate was measured by simulation with known truth and held (docs/statistics.md, for a family of {tests} countermeasures: {calibrated}, alpha {calibrated_alpha}); elsewhere the report gives intervals only and says why. Accuracy is reported beside it.",
    "words": "The words, one per case: **better / worse**: significant after correcting for the {tests} comparisons (Holm). **Suggestive**: the unadjusted interval excludes 0, but the difference is not significant after the correction. **Not distinguishable**: the interval includes 0; the differences it spans are compatible with the data, and the smallest difference this study could detect (80% of the time, at the corrected level) is given beside it: \"not distinguishable\" is not \"no effect\". **Identical**: the configuration's kept models made the same test predictions as the baseline's on every paired seed. **No verdict**: the method's error rate is not measured for this case, or was measured above alpha (the reason is given).",
    "power_how": "Power. The smallest detectable difference is the true difference this study's comparison would call significant 80% of the time at the Bonferroni level alpha / {tests} (Holm's first step), from the comparison's fitted seed, row and residual variance, its seeds and the {rows} test rows. More seeds shrink only the seed part: the test set's rows set a floor that no number of seeds goes below.",
    "first_look": "**Seeds added after a first look**: {added} (the first report had seeds {first}, written {at}). Adding seeds after seeing results and stopping when a difference appears raises the error rate above the one measured; read the verdicts with that in mind.",
    "per_class": "Per-class F1 (mean over seeds)",
    "engaged": "What each configuration's knobs did (as each run recorded it; per seed where they differ)",
    "engaged_header": "| configuration | early stopping | rows dropped (by class) | frozen layers (parameters trained) | re-initialised layers | learning rates | weight decay | dropout hidden / attention / classifier | loss | L2-SP, R-Drop, weight averaging, LoRA |",
    "es_off": "off", "es_never": "patience {patience}: never triggered ({run} of {planned} epochs)",
    "es_stopped": "patience {patience}: stopped at epoch {epoch} of {planned}",
    "none_dropped": "none", "loss_gold": "cross-entropy on gold labels", "loss_votes": "cross-entropy on vote shares (soft labels)",
    "loss_smoothing": "label smoothing {value}", "loss_weights": "class weights {weights}",
    "seed_word": "seed", "seeds_word": "seeds", "not_recorded": "not recorded",
    "more_off": "off", "more_l2_sp": "L2-SP {alpha}", "more_r_drop": "R-Drop {alpha}", "more_lora": "LoRA rank {rank}",
    "more_average": "average of epochs {epochs}: dev macro-F1 {f1} against {best} at epoch {epoch}, {kept}",
    "kept": "kept", "not_kept": "not kept",
    "identical_fact": "Identical: on every paired seed ({seeds}) its kept model made the same predictions on every test row as the baseline's; there is no difference to estimate.",
    "identical_why_es": " Why: it kept the baseline's epoch on every seed (kept epochs {kept}); early stopping ({stopped}) came after the kept epoch, and the epochs up to it trained as the baseline's did.",
    "identical_why_epochs": " It kept the baseline's epoch on every seed (kept epochs {kept}).",
    "identical_why_es_never": " Why: early stopping never triggered (dev macro-F1 kept improving within the patience), so every epoch was trained as the baseline's and the same epoch kept (kept epochs {kept}).",
    "floor_unknown": "Power: the smallest difference this comparison would detect 80% of the time is {m} points (macro-F1); {halve}; the test set's own floor cannot be stated from this study (its fitted row level is 0: with these seeds, the rows' own differences do not show above the residual).",
    "identical_one_class": " Both predict one class, {label}, for every test row: models that have learnt only the majority class cannot differ.",
    "unpaired": "Seeds without a partner, left out of this comparison: {items}.",
    "unpaired_config": "this configuration's {seeds}", "unpaired_base": "the baseline's {seeds}",
    "power_fact": "Power: the smallest difference this comparison would detect 80% of the time is {m} points (macro-F1); {halve}; the test set's own floor is {floor} points.",
    "halve_seeds": "about {k} seeds would halve it",
    "beyond_range": " That is more than 100 points, more than any difference of macro-F1 can be: with these seeds no difference would be detected.",
    "halve_never": "no number of seeds would halve it (the floor is above half of it)",
    "halve_beyond": "more than {k} seeds would be needed to halve it",
    "v_better": "better: significant after correcting for {tests} comparisons (Holm p = {q})",
    "v_worse": "worse: significant after correcting for {tests} comparisons (Holm p = {q})",
    "v_suggestive": "suggestive; not significant after correcting for {tests} comparisons (unadjusted p = {p}, Holm p = {q}); differences from {low} to {high} points are compatible with the data",
    "v_unclear": "not distinguishable; differences from {low} to {high} points are compatible with the data; the smallest this study could detect is {m} points",
    "v_identical": "identical: the same test predictions as the baseline on every paired seed",
    "v_one_seed": "no verdict: {seeds} paired seed(s), at least 2 needed",
    "v_alpha": "no verdict: the method's error rate was measured at alpha {measured}, not at this study's {alpha}",
    "v_not_measured": "no verdict: the method's error rate was not measured at {seeds} paired seeds (measured at {measured})",
    "v_above": "no verdict: at {seeds} paired seeds the method's measured family-wise error, {error}, is above alpha {alpha}",
    "v_family": "no verdict: the method's error rate was not measured for a family of {family} countermeasures (measured for {measured}, and between them)",
    "calibrated_at": "at {seeds} paired seeds",
    "calibrated_none": "at no seed count (families of {measured} countermeasures were measured, and between them)",
    "v_interval": "; differences from {low} to {high} points are compatible with the data",
    "configs": "Configurations over seeds", "configuration": "configuration",
    "configs_header": "| configuration | countermeasure | overrides | seeds | macro-F1 mean ± sd [min, max] | accuracy mean ± sd [min, max] | kept epoch | epoch of lowest dev loss | dev-loss rise after its minimum | dev − train loss at kept epoch |",
    "signs": "**Overfitting in the baseline** (facts from its curves): dev loss rose after its minimum on {k} of {n} seeds (minimum at epochs {epochs}), by {rise} on average, while train loss changed by {train} over the same epochs; dev minus train loss grew from {gap_min} at the minimum to {gap_last} at the last epoch (means over seeds). These are the signs the countermeasures are meant to act on.",
    "signs_none": "**No overfitting sign in the baseline's curves**: on none of its {n} seeds did dev loss rise after its minimum (the last epoch is the lowest). The countermeasures have little to act on here; more epochs or a higher learning rate may show overfitting (studies/overfitting-standins.yaml does so on the stand-ins).",
    "configs_note": "Losses: plain cross-entropy against the gold labels in eval mode, on dev and on a fixed train sample of dev's size, whatever loss the configuration trains with; one value per seed. Kept epoch: the epoch of best dev macro-F1, whose model is evaluated.",
    "comparisons": "Each countermeasure against the baseline",
    "comparisons_header": "| configuration | paired seeds | Δ macro-F1, points [95% interval] | [simultaneous interval] | p | Holm p | Δ accuracy, points [95% interval] | Holm p | smallest detectable Δ macro-F1 (80%) | verdict (macro-F1) |",
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
    "fact_diff": "Difference from the baseline: macro-F1 {f1} points, accuracy {acc} points (95% intervals counting seeds and test rows, {n} paired seeds; simultaneous across the countermeasures: macro-F1 {f1_sim}); p = {p}, Holm-adjusted p = {q}. In words: {verdict}.",
    "fact_seeds_only": "For comparison, an interval counting the seeds alone (paired t over the per-seed differences, on this one test set): {seeds_only} points.",
    "fact_curves": "Dev loss rose by {rise} after its minimum (baseline: {base_rise}); dev minus train loss at the kept epoch: {gap} (baseline: {base_gap}); means over seeds.",
    "may_better": "The countermeasure may improve macro-F1 on data like this test set; the size of the gain is uncertain within the interval.",
    "may_worse": "The countermeasure may hurt macro-F1 here, at least with the value tried; another value may behave differently.",
    "may_unclear": "An effect smaller than this study could detect ({m} points) may exist; the data are compatible with differences from {low} to {high} points, so \"not distinguishable\" does not mean \"no effect\".",
    "may_suggestive": "A difference in this direction may exist; the interval excludes 0 before the correction for {tests} comparisons but not after it, so it may also be one of the chance findings such a family produces.",
    "may_identical": "The countermeasure, with the value tried, may not have acted on the model that is kept in this setting; another value may.",
    "may_no_verdict": "The interval is all this comparison gives; a difference anywhere in it may be the true one.",
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
    "study_set": "基準設定を含むすべての設定に、実験計画自体の上書き {overrides} も適用した。",
    "intro": "すべての設定を同じシード({seeds})で DVC の実験 `{study}-<config>-s<seed>-<identity>` として実行した(`dvc exp show` で見られる)。実行したのは fine-tuning と評価だけ。identity は実験のコード・params・データのダイジェストで、同じ identity の終わった実験(他の実験計画や他の基準コミットのものでも)は再利用する。数値は、その実験自身のものであることを記録が示すときだけ数える(`study.json` の `provenance`)。スコアはテストの {rows} 行で計算。基準設定: `{baseline}`(params.yaml そのまま)。",
    "how": "数値の読み方。差は 設定 − 基準設定 で、単位はポイント(1 ポイント = 0.01)。各 95% 区間は、シード間のばらつきとテストセットの標本誤差の両方を、シードと行で対応させて数える: 行ごとの寄与(macro-F1 は行ごとのジャックナイフ)に対する、シード × 行の交差ランダム効果のモーメント法による推定で、t 分布の自由度はシードの段の自由度(シード数 − 1)とする。そのためシードが少ないと区間は広い。最初の区間は補正なし、二つ目(同時区間)は実験の {tests} 個の対策についての Bonferroni 水準で、すべての差を同時に含む。判定(優れる・劣る)は補正あり: macro-F1(主指標)について {tests} 個の対策に Holm 補正した p 値が {alpha} 未満のとき。さらに、正解を知っているシミュレーションでこの方法の誤り率を測り、それが保たれた場合(docs/statistics.md、対策 {tests} 個の族: {calibrated}、alpha {calibrated_alpha})にだけ判定を出す。それ以外では区間だけを示し、理由を書く。正解率も併記する。",
    "words": "言葉の使い分け(場合ごとに一つ): **優れる・劣る**: {tests} 個の比較について補正(Holm)した後も有意。**示唆的**: 補正前の区間は 0 を含まないが、補正後は有意でない。**区別できない**: 区間が 0 を含む。区間の範囲の差はデータと両立し、この実験が検出できる最小の差(補正後の水準で 80% の確率)を併記する。「区別できない」は「効果がない」ではない。**同一**: 対応するすべてのシードで、採用したモデルのテスト予測が基準設定と同じ。**判定なし**: この場合の方法の誤り率は測っていない、または測った値が alpha を超える(理由を書く)。",
    "power_how": "検出力。検出できる最小の差とは、この比較が Bonferroni 水準 alpha / {tests}(Holm の最初の段)で 80% の確率で有意と判定する真の差で、比較ごとに当てはめたシード・行・残差の分散、シード数、テストの {rows} 行から計算する。シードを増やして小さくなるのはシードの分だけで、テストセットの行が下限を決め、どれだけシードを増やしてもそれより小さくはならない。",
    "first_look": "**最初の報告の後に追加したシード**: {added}(最初の報告のシードは {first}、{at} に作成)。結果を見てからシードを追加し、差が出たところで止めると、誤り率は測った値より高くなる。判定はそのことを念頭に読むこと。",
    "per_class": "クラスごとの F1(シード平均)",
    "engaged": "各設定の対策が実際に何をしたか(各実行の記録。シードによって違う場合はシードごと)",
    "engaged_header": "| 設定 | 早期終了 | 除外した行(クラス別) | 凍結した層(学習したパラメータ数) | 再初期化した層 | 学習率の種類 | 重み減衰 | ドロップアウト 隠れ層 / アテンション / 分類器 | 損失 | L2-SP、R-Drop、重みの平均、LoRA |",
    "es_off": "なし", "es_never": "patience {patience}: 発動せず({planned} エポック中 {run} エポック実行)",
    "es_stopped": "patience {patience}: {planned} エポック中エポック {epoch} で停止",
    "none_dropped": "なし", "loss_gold": "正解ラベルに対する交差エントロピー", "loss_votes": "票の割合(ソフトラベル)に対する交差エントロピー",
    "loss_smoothing": "ラベル平滑化 {value}", "loss_weights": "クラスの重み {weights}",
    "seed_word": "シード", "seeds_word": "シード", "not_recorded": "記録なし",
    "more_off": "なし", "more_l2_sp": "L2-SP {alpha}", "more_r_drop": "R-Drop {alpha}", "more_lora": "LoRA ランク {rank}",
    "more_average": "エポック {epochs} の平均: dev macro-F1 {f1}(エポック {epoch} の {best} に対して)、{kept}",
    "kept": "採用", "not_kept": "不採用",
    "identical_fact": "同一: 対応するすべてのシード({seeds})で、採用したモデルのテスト予測がすべての行で基準設定と同じだった。推定する差はない。",
    "identical_why_es": " 理由: すべてのシードで基準設定と同じエポックを採用した(採用エポック {kept})。早期終了({stopped})は採用したエポックより後で、それまでのエポックは基準設定と同じに学習した。",
    "identical_why_epochs": " すべてのシードで基準設定と同じエポックを採用した(採用エポック {kept})。",
    "identical_why_es_never": " 理由: 早期終了は一度も発動しなかった(patience の間に dev macro-F1 が改善し続けた)ため、すべてのエポックを基準設定と同じに学習し、同じエポックを採用した(採用エポック {kept})。",
    "floor_unknown": "検出力: この比較が 80% の確率で検出できる最小の差は {m} ポイント(macro-F1)。{halve}。テストセット自体による下限はこの実験からは示せない(当てはめた行の分散が 0 で、このシードでは行ごとの差が残差を上回って見えない)。",
    "identical_one_class": " どちらもすべてのテスト行で一つのクラス({label})を予測した。多数派クラスしか学習していないモデル同士は違いようがない。",
    "unpaired": "対応する相手がなく、この比較から除いたシード: {items}。",
    "unpaired_config": "この設定の {seeds}", "unpaired_base": "基準設定の {seeds}",
    "power_fact": "検出力: この比較が 80% の確率で検出できる最小の差は {m} ポイント(macro-F1)。{halve}。テストセット自体による下限は {floor} ポイント。",
    "halve_seeds": "シードを約 {k} 個にすればこれが半分になる",
    "beyond_range": " これは 100 ポイントを超え、macro-F1 の差がとりうるどの値よりも大きい。このシード数ではどんな差も検出されない。",
    "halve_never": "シードをいくつ増やしてもこれは半分にならない(下限が半分より大きい)",
    "halve_beyond": "半分にするには {k} 個より多いシードが要る",
    "v_better": "優れる: {tests} 個の比較について補正した後も有意(Holm p = {q})",
    "v_worse": "劣る: {tests} 個の比較について補正した後も有意(Holm p = {q})",
    "v_suggestive": "示唆的。{tests} 個の比較について補正すると有意でない(補正前 p = {p}、Holm p = {q})。{low} 〜 {high} ポイントの差がデータと両立する",
    "v_unclear": "区別できない。{low} 〜 {high} ポイントの差がデータと両立する。この実験が検出できる最小の差は {m} ポイント",
    "v_identical": "同一: 対応するすべてのシードでテスト予測が基準設定と同じ",
    "v_one_seed": "判定なし: 対応するシードが {seeds} 個(2 個以上必要)",
    "v_alpha": "判定なし: 方法の誤り率は alpha {measured} で測ったもので、この実験の {alpha} では測っていない",
    "v_not_measured": "判定なし: 対応するシード {seeds} 個では方法の誤り率を測っていない(測ったのは {measured})",
    "v_above": "判定なし: 対応するシード {seeds} 個では、測った方法の族単位の誤り率 {error} が alpha {alpha} を超える",
    "v_family": "判定なし: 対策 {family} 個の族では方法の誤り率を測っていない(測ったのは {measured} 個とその間)",
    "calibrated_at": "対応するシード {seeds} 個",
    "calibrated_none": "どのシード数でも測っていない(測ったのは対策 {measured} 個の族とその間)",
    "v_interval": "。{low} 〜 {high} ポイントの差がデータと両立する",
    "configs": "設定ごとの複数シードの結果", "configuration": "設定",
    "configs_header": "| 設定 | 対策 | 上書き | シード | macro-F1 平均 ± 標準偏差 [最小, 最大] | 正解率 平均 ± 標準偏差 [最小, 最大] | 採用エポック | dev 損失が最小のエポック | 最小後の dev 損失の上昇 | 採用エポックでの dev − train 損失 |",
    "signs": "**基準設定の過学習**(曲線から分かる事実): dev 損失は {n} シード中 {k} シードで最小値(エポック {epochs})の後に上昇し、上昇幅は平均 {rise}。同じエポックの間に train 損失は {train} 変化した。dev − train 損失は最小のエポックの {gap_min} から最後のエポックの {gap_last} に広がった(シード平均)。対策が作用すべき兆候である。",
    "signs_none": "**基準設定の曲線に過学習の兆候はない**: {n} シードのどれでも、dev 損失は最小値の後に上昇しなかった(最後のエポックが最小)。ここでは対策が作用する対象が少ない。エポック数を増やすか学習率を上げると過学習が現れる可能性がある(代替モデルでは studies/overfitting-standins.yaml がそうしている)。",
    "configs_note": "損失: 設定が学習に使う損失によらず、正解ラベルに対する通常の交差エントロピー(評価モード)。dev と、dev と同じ大きさの固定した学習データの標本で計算。値はシードごと。採用エポック: dev の macro-F1 が最良のエポックで、そのモデルを評価する。",
    "comparisons": "各対策と基準設定の比較",
    "comparisons_header": "| 設定 | 対応するシード | macro-F1 の差(ポイント)[95% 区間] | [同時区間] | p | Holm p | 正解率の差(ポイント)[95% 区間] | Holm p | 検出できる最小の macro-F1 の差(80%) | 判定(macro-F1) |",
    "forest": "基準設定との差(macro-F1、ポイント、シードとテスト行を数えた 95% 区間)",
    "curves": "学習曲線(通常の交差エントロピー、シード平均、最小〜最大の帯)",
    "dev_curves": "全設定の dev 損失",
    "each": "対策ごとに: 何をするか、何を測ったか、何を意味しうるか",
    "what": "何をするか",
    "baseline_note": "基準設定がすでにしていること",
    "sources": "出典",
    "measured": "この実験で測ったこと(事実)",
    "meaning": "意味しうること(可能性であり事実ではない)",
    "not_run": "この実験では実行していない。",
    "params": "パラメータ: {params}。",
    "fact_scores": "`{config}`({overrides})、{n} シード: macro-F1 {f1}、正解率 {acc}(平均 ± 標準偏差)。",
    "fact_diff": "基準設定との差: macro-F1 {f1} ポイント、正解率 {acc} ポイント(シードとテスト行を数えた 95% 区間、対応するシード {n} 個。対策全体の同時区間: macro-F1 {f1_sim})。p = {p}、Holm 補正 p = {q}。言葉で: {verdict}。",
    "fact_seeds_only": "参考: シードだけを数えた区間(シードごとの差の対応のある t、この一つのテストセットで): {seeds_only} ポイント。",
    "fact_curves": "dev 損失は最小値の後 {rise} 上昇した(基準設定: {base_rise})。採用エポックでの dev − train 損失: {gap}(基準設定: {base_gap})。いずれもシード平均。",
    "may_better": "この対策は、このテストセットのようなデータで macro-F1 を改善する可能性がある。改善の大きさは区間の範囲で不確かである。",
    "may_worse": "この対策は、少なくとも試した値では、ここでの macro-F1 を下げる可能性がある。別の値では異なる可能性がある。",
    "may_unclear": "この実験が検出できる大きさ({m} ポイント)より小さい効果がある可能性がある。データは {low} 〜 {high} ポイントの差と両立するので、「区別できない」は「効果がない」という意味ではない。",
    "may_suggestive": "この向きの差がある可能性がある。補正前の区間は 0 を含まないが、{tests} 個の比較についての補正後は有意でないので、このような比較の集まりで偶然に生じる所見の一つである可能性もある。",
    "may_identical": "試した値では、この設定においてこの対策は採用されるモデルに作用しなかった可能性がある。別の値では作用する可能性がある。",
    "may_no_verdict": "この比較が示すのは区間だけである。区間内のどの差も真の差である可能性がある。",
    "may_less_overfit": "曲線に見える過学習を減らした可能性がある(最小後の dev 損失の上昇が基準設定より小さい)。これは {n} シードでの記述で、検定はしていない。",
    "may_more_overfit": "dev 損失の曲線は最小後に基準設定より大きく上昇した。この設定では過学習に効かない可能性も、試した値が弱すぎる可能性もある。{n} シードでの記述で、検定はしていない。",
    "may_gap": "採用エポックでの dev と train の損失の差が基準設定より小さいことは、採用したモデルが学習データに合わせすぎていないことを意味する可能性がある。",
    "epoch": "エポック", "train_ce": "学習(標本)", "dev_ce": "dev", "loss": "交差エントロピー",
    "diff_axis": "基準設定との macro-F1 の差(ポイント)",
}

TABLES = {"en": EN, "ja": JA}


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
    own = ", ".join(f"{k}={v}" for k, v in entry["set"].items())
    return own or ("params.yaml + the study's set" if entry.get("study_set") else "params.yaml")


def overfitting_signs(t: Text, result: dict) -> str:
    """The baseline's overfitting picture in one sentence of facts from its curves: on how many seeds
    dev loss rose after its minimum and by how much, while train loss fell, and the gap dev minus
    train loss at the minimum and at the last epoch (means over seeds); or that it never rose."""
    o = result["configs"][result["baseline"]]["overfitting"]
    rises = [r for r in o["dev_ce_rise"] if r is not None]
    if not rises or o.get("gap_at_min") is None:
        return ""
    rose = [r for r in rises if r > 0]
    if not rose:
        return t("signs_none", n=len(rises))
    epochs = ", ".join(str(e) for e in o["min_dev_ce_epoch"] if e is not None)
    return t("signs", k=len(rose), n=len(rises), epochs=epochs, rise=fmt(mean_of(rises), 3),
             train=fmt(mean_of(o["train_ce_change"]), 3), gap_min=fmt(mean_of(o["gap_at_min"]), 3),
             gap_last=fmt(mean_of(o["gap_at_last"]), 3))


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
    if c["diff"] is None:
        return "–"
    if c["ci_low"] is None:
        return points(c["diff"])
    return f"{points(c['diff'])} [{points(c['ci_low'])}, {points(c['ci_high'])}]"


def simultaneous_points(c: dict) -> str:
    if c.get("ci_low_simultaneous") is None:
        return "–"
    return f"[{points(c['ci_low_simultaneous'])}, {points(c['ci_high_simultaneous'])}]"


def detectable_points(c: dict) -> str:
    return f"{100 * c['power']['detectable']:.1f}" if c.get("power") else "–"


def excludes_zero(c: dict) -> bool:
    return c["ci_low"] is not None and (c["ci_low"] > 0 or c["ci_high"] < 0)


def words(t: Text, c: dict, tests: int) -> str:
    """The comparison in words, one wording per case (study.verdict_of): better or worse (significant
    after Holm), identical, no verdict (why, and the interval if there is one), suggestive (the
    unadjusted interval excludes 0, Holm does not), not distinguishable (with the smallest difference
    this study could detect)."""
    interval = {"low": points(c["ci_low"]), "high": points(c["ci_high"])} if c["ci_low"] is not None else None
    if c["verdict"] in (BETTER, WORSE):
        return t(f"v_{c['verdict']}", tests=tests, q=p_value(c["p_holm"]))
    if c["verdict"] == IDENTICAL:
        return t("v_identical")
    if c["verdict"] == NO_VERDICT:
        reason, values = c["gate"]
        values = {k: ", ".join(map(str, v)) if isinstance(v, list) else v for k, v in values.items()}
        return t(f"v_{reason}", **values) + (t("v_interval", **interval) if interval else "")
    if excludes_zero(c):
        return t("v_suggestive", tests=tests, p=p_value(c["p"]), q=p_value(c["p_holm"]), **interval)
    return t("v_unclear", m=detectable_points(c), **interval)


def comparisons_table(t: Text, result: dict) -> list[str]:
    lines = [t("comparisons_header"), "|" + "---|" * 10]
    tests = result.get("family", len(result["comparisons"]))
    for name, comp in result["comparisons"].items():
        f1, acc = comp["macro_f1"], comp["accuracy"]
        lines.append(f"| `{name}` | {', '.join(map(str, f1['paired_seeds'])) or '–'} | {interval_points(f1)} | "
                     f"{simultaneous_points(f1)} | {p_value(f1['p'])} | {p_value(f1['p_holm'])} | "
                     f"{interval_points(acc)} | {p_value(acc['p_holm'])} | {detectable_points(f1)} | "
                     f"{words(t, f1, tests)} |")
    return lines


def by_seeds(t: Text, values: dict[str, str]) -> str:
    """One cell from per-seed values: the value when every seed has it, else each value with its seeds."""
    groups: dict[str, list[str]] = {}
    for seed, value in values.items():
        groups.setdefault(value, []).append(seed)
    if len(groups) == 1:
        return next(iter(groups))
    return "; ".join(f"{v} ({t('seed_word' if len(s) == 1 else 'seeds_word')} {', '.join(s)})"
                     for v, s in groups.items())


ENGAGED_CELLS = 9  # the engaged table's columns after the configuration's name


def engaged_cells(t: Text, e: dict | None) -> list[str]:
    """One run's engagement record (training.engagement) as the engaged table's cells."""
    if not e:
        return [t("not_recorded")] * ENGAGED_CELLS
    if not e["early_stopping_patience"]:
        stopping = t("es_off")
    elif e["stopped_at_epoch"] is None:
        stopping = t("es_never", patience=e["early_stopping_patience"], run=e["epochs_run"],
                     planned=e["epochs_planned"])
    else:
        stopping = t("es_stopped", patience=e["early_stopping_patience"], epoch=e["stopped_at_epoch"],
                     planned=e["epochs_planned"])
    dropped = (f"{e['dropped_rows']} (" + ", ".join(f"{k} {v}" for k, v in e["dropped_by_class"].items()) + ")"
               if e["dropped_rows"] else t("none_dropped"))
    frozen = f"{e['frozen_layers']} ({e['trainable_parameters']:,} / {e['parameters']:,})"
    d = e["dropout"]
    loss = [t("loss_votes" if e["loss"]["target"] == "votes" else "loss_gold")]
    if e["loss"]["label_smoothing"]:
        loss.append(t("loss_smoothing", value=e["loss"]["label_smoothing"]))
    if e["loss"]["class_weights"]:
        loss.append(t("loss_weights", weights=", ".join(f"{k} {v:.2f}" for k, v in e["loss"]["class_weights"].items())))
    more = []
    if e.get("l2_sp"):
        more.append(t("more_l2_sp", alpha=f"{e['l2_sp']:g}"))
    if e.get("r_drop"):
        more.append(t("more_r_drop", alpha=f"{e['r_drop']:g}"))
    if e.get("averaged"):
        a = e["averaged"]
        more.append(t("more_average", epochs="-".join(map(str, a["epochs"][::max(1, len(a["epochs"]) - 1)])),
                      f1=fmt(a["dev_macro_f1"]), best=fmt(a["best_epoch_dev_macro_f1"]), epoch=a["best_epoch"],
                      kept=t("kept" if a["kept"] else "not_kept")))
    if e.get("lora_rank"):
        more.append(t("more_lora", rank=e["lora_rank"]))
    return [stopping, dropped, frozen, str(e["reinitialised_layers"]), str(e["lr_groups"]), f"{e['weight_decay']:g}",
            " / ".join("–" if d[k] is None else f"{d[k]:g}" for k in ("hidden", "attention", "classifier")),
            ", ".join(loss), "; ".join(more) or t("more_off")]


def engaged_table(t: Text, result: dict) -> list[str]:
    lines = [t("engaged_header"), "|" + "---|" * (ENGAGED_CELLS + 1)]
    for name, c in result["configs"].items():
        per_seed = {seed: engaged_cells(t, e) for seed, e in (c.get("engaged") or {}).items()}
        cells = [by_seeds(t, {s: v[i] for s, v in per_seed.items()}) if per_seed else "–" for i in range(ENGAGED_CELLS)]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return lines


def per_class_table(t: Text, result: dict) -> list[str]:
    classes = list(next(iter(result["configs"].values())).get("per_class_f1") or {})
    lines = [f"| {t('configuration')} | " + " | ".join(classes) + " |", "|" + "---|" * (len(classes) + 1)]
    for name, c in result["configs"].items():
        f1 = c.get("per_class_f1") or {}
        lines.append(f"| `{name}` | " + " | ".join(fmt(f1.get(k)) for k in classes) + " |")
    return lines


def identical_why(t: Text, config: str, result: dict) -> str:
    """Why a configuration's kept models equal the baseline's, where the runs' records show it."""
    entry, base = result["configs"][config], result["configs"][result["baseline"]]
    seeds = [str(s) for s in result["comparisons"][config]["macro_f1"]["paired_seeds"]]
    kept = dict(zip(map(str, entry["seeds"]), entry["overfitting"]["kept_epoch"], strict=True))
    base_kept = dict(zip(map(str, base["seeds"]), base["overfitting"]["kept_epoch"], strict=True))
    if any(kept.get(s) is None or kept.get(s) != base_kept.get(s) for s in seeds):
        return ""
    kept_text = ", ".join(str(kept[s]) for s in seeds)
    engaged = entry.get("engaged") or {}
    stops = {s: (engaged.get(s) or {}).get("stopped_at_epoch") for s in seeds}
    if entry["countermeasure"] == "early_stopping" and seeds and not any(stops.values()) and all(
            (engaged.get(s) or {}).get("early_stopping_patience") for s in seeds):
        return t("identical_why_es_never", kept=kept_text)
    if entry["countermeasure"] == "early_stopping" and all(stops.values()):
        stopped = by_seeds(t, {s: t("es_stopped", patience=engaged[s]["early_stopping_patience"], epoch=stops[s],
                                     planned=engaged[s]["epochs_planned"]) for s in seeds})
        return t("identical_why_es", kept=kept_text, stopped=stopped)
    return t("identical_why_epochs", kept=kept_text)


def power_text(t: Text, c: dict) -> str | None:
    power = c.get("power")
    if not power:
        return None
    if power["seeds_to_halve"] is not None:
        halve = t("halve_seeds", k=power["seeds_to_halve"])
    elif power["floor"] >= power["detectable"] / 2:
        halve = t("halve_never")
    else:
        halve = t("halve_beyond", k=power.get("max_seeds", 200))
    text = (t("floor_unknown", m=detectable_points(c), halve=halve) if power["floor"] <= 0 else
            t("power_fact", m=detectable_points(c), halve=halve, floor=f"{100 * power['floor']:.1f}"))
    return text + (t("beyond_range") if power["detectable"] > 1 else "")


def unpaired_text(t: Text, c: dict) -> str | None:
    u = c.get("unpaired") or {}
    items = [t(key, seeds=", ".join(map(str, u[side]))) for side, key in
             (("config", "unpaired_config"), ("baseline", "unpaired_base")) if u.get(side)]
    return t("unpaired", items="; ".join(items)) if items else None


def countermeasure_section(t: Text, key: str, result: dict) -> list[str]:
    cm = COUNTERMEASURES[key]
    lang = t.language
    lines = [f"### {cm.name[lang]} (`{key}`)", "", f"**{t('what')}.** {cm.what[lang]}", "", t("params", params=", ".join(
        f"`{p}`" for p in cm.params)), ""]
    if cm.baseline_note.get(lang):
        lines += [f"**{t('baseline_note')}.** {cm.baseline_note[lang]}", ""]
    lines += [f"**{t('sources')}.**", "", *[f"- {s.cite()}" for s in cm.sources], ""]
    runs = [c for c, entry in result["configs"].items() if entry["countermeasure"] == key]
    if not runs:
        return [*lines, f"*{t('not_run')}*", ""]
    base = result["configs"][result["baseline"]]
    tests = result.get("family", len(result["comparisons"]))
    for config in runs:
        entry, comp = result["configs"][config], result["comparisons"].get(config)
        facts = [t("fact_scores", config=config, overrides=overrides_text(entry), n=len(entry["seeds"]),
                   f1=spread(entry["macro_f1"]), acc=spread(entry["accuracy"]))]
        may = []
        if comp:
            f1, acc = comp["macro_f1"], comp["accuracy"]
            if f1["verdict"] == IDENTICAL:
                one_class = f1.get("one_class")
                classes = list(entry.get("per_class_f1") or {})
                facts.append(t("identical_fact", seeds=", ".join(map(str, f1["paired_seeds"])))
                             + identical_why(t, config, result)
                             + (t("identical_one_class", label=classes[one_class])
                                if one_class is not None and one_class < len(classes) else ""))
                may.append(t("may_identical"))
            else:
                facts.append(t("fact_diff", f1=interval_points(f1), acc=interval_points(acc), n=f1["seeds"],
                               f1_sim=simultaneous_points(f1), p=p_value(f1["p"]), q=p_value(f1["p_holm"]),
                               verdict=words(t, f1, tests)))
                so = f1.get("seeds_only") or {}
                if so.get("ci_low") is not None:
                    facts.append(t("fact_seeds_only", seeds_only=f"[{points(so['ci_low'])}, {points(so['ci_high'])}]"))
                facts += [x for x in (power_text(t, f1),) if x]
                if f1["verdict"] == BETTER:
                    may.append(t("may_better"))
                elif f1["verdict"] == WORSE:
                    may.append(t("may_worse"))
                elif f1["verdict"] == NO_VERDICT:
                    may.append(t("may_no_verdict"))
                elif excludes_zero(f1):
                    may.append(t("may_suggestive", tests=tests))
                else:
                    may.append(t("may_unclear", m=detectable_points(f1), low=points(f1["ci_low"]),
                                 high=points(f1["ci_high"])))
            facts += [x for x in (unpaired_text(t, f1),) if x]
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
        lines += [f"**{t('measured')}.**", "", *[f"- {f}" for f in facts], ""]
        if may:
            lines += [f"**{t('meaning')}.**", "", *[f"- {m}" for m in may], ""]
    return lines


def markdown(result: dict, language: str) -> str:
    t = Text(language, TABLES)
    base = result["configs"][result["baseline"]]
    rows = next(iter(result["comparisons"].values()))["macro_f1"]["rows"] if result["comparisons"] else "–"
    tests = result.get("family", len(result["comparisons"]))
    lines = [f"# {t('title', study=result['study'])}", ""]
    if result.get("standin"):
        lines += [t("standin"), ""]
    if result.get("left_out"):
        items = "; ".join(f"`{e['name']}`: {e['why']}" for e in result["left_out"])
        lines += [t("left_out", items=items), ""]
    first = result.get("first_look") or {}
    if first.get("added"):
        lines += [t("first_look", added=", ".join(map(str, first["added"])), first=", ".join(map(str, first["seeds"])),
                    at=first["at"]), ""]
    lines += [t("intro", seeds=", ".join(map(str, base["seeds"])), study=result["study"], rows=rows,
                baseline=result["baseline"]), ""]
    if base.get("study_set"):
        lines += [t("study_set", overrides=", ".join(f"`{k}={v}`" for k, v in base["study_set"].items())), ""]
    errors = measured_fwer(tests)
    calibrated = (t("calibrated_at", seeds=", ".join(str(s) for s in errors
                                                      if verdict_gate(s, CALIBRATED_ALPHA, tests) is None))
                  if errors is not None else
                  t("calibrated_none", measured=", ".join(map(str, sorted(MEASURED_FWER)))))
    lines += [t("how", tests=tests, alpha=result["alpha"], calibrated=calibrated,
                calibrated_alpha=CALIBRATED_ALPHA), "",
              t("words", tests=tests), "", t("power_how", tests=tests, rows=rows), "",
              f"## {t('configs')}", "", *configs_table(t, result), "", t("configs_note"), "",
              *([signs, ""] if (signs := overfitting_signs(t, result)) else []),
              f"## {t('per_class')}", "", *per_class_table(t, result), "",
              f"## {t('engaged')}", "", *engaged_table(t, result), "",
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
            if c["ci_low"] is not None:
                ax.plot([100 * c["ci_low"], 100 * c["ci_high"]], [yi, yi], color=color, linewidth=2)
            if c["diff"] is not None:  # identical models: a point at 0 without an interval
                ax.plot(100 * c["diff"], yi, "o", color=color, fillstyle="none" if c["ci_low"] is None else "full")
        ax.set_yticks(y, names)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(t("diff_axis"))
    ax.set_title(t("forest"), fontsize=10)
    fig.tight_layout()
    fig.savefig(folder / "forest.png", dpi=90)
    plt.close(fig)

