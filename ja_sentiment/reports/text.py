"""The reports' words in English and Japanese (params `report.language`).

Every sentence of reports/error_analysis.md and reports/summary.md that is not a number or a
corpus text comes from here. Possibility sentences (`possible_*`) carry the possibility wording in
both languages ("may" / "可能性がある"); tests check that they always do.
"""

# ruff: noqa: E501  (a table of sentences: breaking them mid-phrase would hurt more than long lines)
from __future__ import annotations

LANGUAGES = ("en", "ja")

EN = {
    "none": "none",
    # error analysis: findings and possible causes
    "findings": "Findings",
    "findings_intro": "Facts the results of this run show, each with its numbers and, where one applies, "
                      "its test: Fisher's exact test (two-sided unless stated); for length, a chi-square test "
                      "of independence, or its permutation p-value where an expected count is below 5; for "
                      "words, a one-sided Fisher test per word with Benjamini-Hochberg correction over every "
                      "word test of the split; for neighbours, a Cochran-Mantel-Haenszel test stratified by "
                      "gold class. A finding is marked significant at the level set in params. Every finding "
                      "a possible cause rests on compares the errors with a control (the correctly classified "
                      "rows, or the other rows).",
    "finding_agreement": "Sentences without unanimous annotator agreement are misclassified at {mixed}; "
                         "sentences with unanimous agreement at {unanimous}; Fisher's exact test p = {p}.",
    "finding_length": "Error rate by text length (characters): {rates}; {test} p = {p}.",
    "length_test_chi2": "chi-square test of independence",
    "length_test_permutation": "an expected count is below 5, so permutation test of independence (chi-square statistic, 9999 permutations)",
    "length_test_none": "no test (one bucket, or no errors)",
    "finding_pair": "The most frequent confusion is gold {gold} predicted {pred}: {share} of the errors.",
    "finding_words": "{n} of {tested} tested words are over-represented among the errors (Benjamini-Hochberg "
                     "over all {tests} word tests of the split, q < {alpha}); the first: {listed}. Per "
                     "confusion pair: {pairs}.",
    "finding_neighbours": "Test rows most of whose {k} nearest training sentences carry a label other than "
                          "their gold label: {errors} of the errors against {correct} of the correctly "
                          "classified rows; Cochran-Mantel-Haenszel test stratified by gold class p = {p} "
                          "(pooled odds ratio {odds}). {duplicates} test errors have a near-identical training "
                          "sentence (similarity ≥ 0.9) labelled as the model predicted.",
    "finding_label_issues": "Label-issue candidates (confident learning: an out-of-fold TF-IDF model's most "
                            "confident class above its threshold is another class): {candidates} of the "
                            "training rows. The fine-tuned model gets {wrong_candidates} of the candidates "
                            "wrong against {wrong_rest} of the other rows (Fisher p = {p_wrong}, Holm-adjusted "
                            "over the two comparisons {holm_wrong}); rows without unanimous agreement: "
                            "{mixed_candidates} of the candidates against {mixed_rest} of the other rows "
                            "(Fisher p = {p_mixed}, Holm {holm_mixed}). Rows whose gold label differs from the "
                            "annotators' majority vote: {not_majority}.",
    "possible_causes": "Possible causes",
    "possible_intro": "Possibilities, not facts: each could explain the findings it names, and none is shown "
                      "by them. Telling them apart needs reading the listed sentences or a further "
                      "experiment.",
    "no_possible_causes": "No finding is significant in this run, so no cause is suggested.",
    "possibility": "possibility",
    "rests_on": "rests on",
    "possible_ambiguity": "Some errors may come from sentences whose sentiment is itself ambiguous: the "
                          "annotators disagreed on them, so the gold label may be one reading among several "
                          "rather than the only right answer.",
    "possible_words": "The model may have learnt {words} as cues for {pred}; that could explain why {split} "
                      "sentences labelled {gold} that contain them are predicted {pred} more often.",
    "possible_neighbours": "Similar training sentences labelled otherwise than a test sentence's gold label may "
                           "have pulled the model away from that label: the labelling of such sentences may be "
                           "inconsistent, or their wording may be genuinely ambiguous; these numbers cannot "
                           "tell which.",
    "possible_label_noise": "Some gold labels may be debatable or wrong: the candidates listed below are where "
                            "a model that never saw them disagrees most confidently; re-reading them is what "
                            "can tell.",
    "possible_short": "Short sentences ({bucket} characters) may carry too little context for the model to "
                      "tell their sentiment.",
    # error analysis: sections
    "ea_title": "Error analysis: fine-tuned model `{model}`",
    "ea_base": "Base model `{base}`, revision `{revision}`, commit {commit}.",
    "ea_intro": "Splits: {splits}. An error is an example whose predicted label differs from the gold "
                "label. confidence = predicted probability of the predicted class; gold_prob = of the gold "
                "class. Rates = errors / examples in the group. Significance level: {alpha}.",
    "ea_words": "Words over-represented among the errors",
    "ea_words_intro": "Words from MeCab (unidic-lite, dictionary forms) in at least {min_count} sentences of "
                      "the split are tested; error_rate = errors among sentences with the word, rest_rate = "
                      "among the others; q = Benjamini-Hochberg-corrected p, corrected over every word test of "
                      "the split together (all errors and every confusion pair). Overall: all errors of the "
                      "split; per pair gold→pred: among the gold class's sentences, predicted as pred. Full "
                      "tables: reports/error_words.csv.",
    "ea_words_all": "{split}: all errors",
    "ea_words_pair": "{split}: {pair}",
    "ea_words_none": "No word is significant here; the {n} with the smallest p:",
    "ea_words_plot": "Significant words, error rate with the word against without it",
    "ea_neighbours": "Nearest training sentences of each test error",
    "ea_neighbours_intro": "Similarity: {similarity}. For each test error, the {k} most similar training "
                           "sentences with their gold label, annotator agreement and similarity. with_pred / "
                           "with_gold: neighbours labelled as predicted / as gold. Also in "
                           "reports/error_neighbours.csv.",
    "similarity_tfidf": "cosine of character 1–3-gram TF-IDF vectors fitted on the training texts",
    "similarity_model": "cosine of the fine-tuned model's mean-pooled sentence vectors",
    "ea_label_issues": "Label-issue candidates (train)",
    "ea_label_issues_intro": "Out-of-fold probabilities from {folds}-fold cross-validation of the TF-IDF model "
                             "(params `tfidf`); self_confidence = out-of-fold probability of the gold label, "
                             "rank 1 = least likely. Each class's threshold is its mean probability over the "
                             "rows labelled with it; a row counts for the most probable class among those above "
                             "their threshold, its own included, and is a candidate when that class is another "
                             "one (confident learning). Full ranking: reports/label_issues.csv.",
    "ea_label_issues_skipped": "Not computed: {reason}.",
    "ea_crosstab_agreement": "Candidates by annotator agreement",
    "ea_crosstab_majority": "Candidates by gold label against the annotators' majority vote",
    "ea_top_candidates": "The {n} least likely gold labels",
    "ea_attributions": "Token attributions of the {n} most confident test errors",
    "ea_attributions_intro": "captum LayerIntegratedGradients on the word embeddings ({steps} steps, baseline: "
                             "[PAD] tokens). score > 0: the token pushed towards the predicted (wrong) class. "
                             "change = predicted-class probability of the text minus that of the baseline; the "
                             "scores sum to it up to delta. All scores: reports/error_attributions.csv.",
    "ea_attributions_off": "Token attributions are off (error_analysis.attributions = 0).",
    "ea_tables": "Where the errors are",
    "ea_by_split": "Errors by split",
    "ea_by_pair": "Errors by confusion pair (rate = share of the gold class's examples)",
    "ea_by_agreement": "Errors by annotator agreement (from the vote counts)",
    "ea_by_length": "Errors by text length (characters)",
    "ea_top_errors": "{split}: the {n} highest-confidence errors",
    "ea_all_errors": "{split}: all {n} errors",
    "plot_agreement": "{model}: error rate by annotator agreement",
    "plot_length": "{model}: error rate by text length (characters)",
    "error_rate": "error rate",
    "axis_word": "word (errors / sentences with it)",
    "axis_agreement": "annotator agreement",
    "axis_length": "sentence length (characters)",
    "plot_loss_axis": "loss",
    "plot_score_axis": "score on dev",
    "with_word": "with the word",
    "without_word": "without it",
    "standin_note": "**Made with offline stand-ins, not the real models** (`standin: true` in the metrics): "
                    "randomly initialised models placed under the hub ids by `ja_sentiment.tools.standins` "
                    "(`make smoke`, tests). These numbers say nothing about the real models.",
    "commit": ", commit {commit}",
    "trained_in": ", trained in {precision}",
    "sentence_end": ".",
    # summary
    "sm_title": "Study summary",
    "sm_intro": "Generated by the `summary` stage from this run's outputs; every number below comes from "
                "metrics/ and reports/ of the same run.",
    "sm_models": "Models",
    "sm_models_header": "| slot | model | revision | commit |",
    "sm_comparison": "Comparison",
    "sm_comparison_header": "| model | split | accuracy [95% interval] | macro-F1 [95% interval] | weighted-F1 | ECE |",
    "sm_intervals": "Intervals: {confidence:.0%} percentile bootstrap over the rows of the split ({resamples} "
                    "resamples, seed {seed}); a class absent from a resample scores F1 0, as in the point "
                    "estimates. ECE: expected calibration error of the predicted label's probability (for the "
                    "band rule's neutral predictions, p_neutral) over 15 equal-width confidence bins (test only).",
    "sm_paired": "Is the fine-tuned model better? Paired comparison on the test rows",
    "sm_paired_missing": "No paired comparison: the fine-tuned model's test predictions are missing.",
    "sm_paired_header": "| fine-tuned vs | metric | fine-tuned | other | difference [95% interval] | McNemar p "
                        "| verdict |",
    "sm_paired_note": "Same {n} test rows for both models. Difference = fine-tuned minus the other, with a "
                      "paired-bootstrap interval (the same resampled rows for both). McNemar: exact test on the "
                      "rows where exactly one of the two is right. Verdict: better or worse only when the whole "
                      "interval lies above or below 0; otherwise the data do not show a difference, and the "
                      "verdict gives the range of differences (in points) they are compatible with.",
    "sm_reports": "Classification reports and confusion matrices (test)",
    "sm_model": "Model: `{model}`",
    "sm_base": " (base `{base}`)",
    "sm_revision": ", revision `{revision}`",
    "sm_threshold": "Neutral band threshold: {threshold} ({band}).",
    "sm_best_epoch": "Best epoch on dev macro-F1: {epoch}.",
    "sm_report": "Test classification report:",
    "sm_confusion": "confusion matrix, test",
    "sm_reliability": "reliability diagram, test",
    "sm_curve": "Learning curve (Level 2 / Level 4)",
    "sm_errors": "Error analysis (Level 3), headline numbers",
    "sm_errors_header": "| split | examples | errors | error rate | rate, unanimous | rate, 2-1 | rate, three-way |",
    "sm_errors_more": "Findings, possible causes and every misclassified example: reports/error_analysis.md and "
                      "reports/errors.csv.",
    "title_baseline_plain": "Level 1: ready-made model, plain 2→3 label mapping",
    "title_baseline_band": "Level 1: ready-made model, neutral band",
    "title_tfidf": "Comparator: TF-IDF character n-grams + logistic regression",
    "title_finetuned": "Level 2: fine-tuned model",
    "plot_loss": "Loss per epoch",
    "plot_dev": "Dev scores per epoch",
    "epoch": "epoch",
    "better": "better",
    "worse": "worse",
    "not distinguishable": "not distinguishable",
    "compatible": ": the data do not show a difference; they are compatible with differences from {low} to "
                  "{high} points",
}

JA = {
    "none": "なし",
    "findings": "事実 (Findings)",
    "findings_intro": "この実行の結果が示す事実。それぞれに数値と、該当する場合は検定を付す（p 値: 特記なければ "
                      "Fisher の正確検定・両側。長さはカイ二乗独立性検定、期待度数が 5 未満のセルがあれば同じ"
                      "統計量の並べ替え検定。単語は単語ごとの片側 Fisher 検定を、その分割のすべての単語検定を"
                      "まとめて Benjamini-Hochberg 法で補正。近傍は正解クラスで層別した Cochran-Mantel-Haenszel "
                      "検定）。有意水準は params で設定した値。考えられる原因の根拠となる事実は、すべて誤りを対照"
                      "（正しく分類された行、またはそれ以外の行）と比べたもの。",
    "finding_agreement": "アノテーターの判定が全員一致でない文の誤分類率は {mixed}、全員一致の文は {unanimous}。"
                         "Fisher の正確検定 p = {p}。",
    "finding_length": "文字数別の誤分類率: {rates}。{test} p = {p}。",
    "length_test_chi2": "カイ二乗独立性検定",
    "length_test_permutation": "期待度数が 5 未満のセルがあるため並べ替えによる独立性検定（カイ二乗統計量、9999 回）",
    "length_test_none": "検定なし（区分が一つ、または誤りがない）",
    "finding_pair": "最も多い誤りは正解 {gold} を {pred} と予測したもので、誤り全体の {share}。",
    "finding_words": "検定した {tested} 語のうち {n} 語が誤りの文に有意に多く現れる（その分割の単語検定 {tests} "
                     "件をまとめて Benjamini-Hochberg 補正、q < {alpha}）。上位: {listed}。混同の組ごと: {pairs}。",
    "finding_neighbours": "最も類似した学習文 {k} 件の過半数が正解と異なるラベルを持つテスト行は、誤りでは "
                          "{errors}、正しく分類された行では {correct}。正解クラスで層別した Cochran-Mantel-"
                          "Haenszel 検定 p = {p}（併合オッズ比 {odds}）。予測と同じラベルのほぼ同一の学習文"
                          "（類似度 ≥ 0.9）を持つテストの誤りは {duplicates} 件。",
    "finding_label_issues": "ラベル誤りの候補（confident learning: 学習に使われなかった TF-IDF モデルで、"
                            "しきい値を超えるクラスのうち最も確率の高いクラスが別クラス）は学習データの "
                            "{candidates}。fine-tuned モデルの誤り率は候補で {wrong_candidates}、それ以外の行で "
                            "{wrong_rest}（Fisher p = {p_wrong}、二つの比較での Holm 補正 {holm_wrong}）。判定が"
                            "全員一致でない行は候補で {mixed_candidates}、それ以外で {mixed_rest}（Fisher p = "
                            "{p_mixed}、Holm {holm_mixed}）。正解ラベルがアノテーターの多数決と異なる行は "
                            "{not_majority} 件。",
    "possible_causes": "考えられる原因 (Possible causes)",
    "possible_intro": "以下は事実ではなく可能性である。それぞれ挙げた事実を説明しうるが、事実によって示されては"
                      "いない。見分けるには、挙げた文を読むか追加の実験が必要。",
    "no_possible_causes": "この実行では有意な事実がないため、原因の可能性は挙げない。",
    "possibility": "可能性",
    "rests_on": "根拠:",
    "possible_ambiguity": "一部の誤りは、感情そのものが曖昧な文によるものである可能性がある。アノテーターの判定が"
                          "分かれており、正解ラベルは唯一の正解ではなく複数の読み方の一つである可能性がある。",
    "possible_words": "モデルが {words} を {pred} の手がかりとして学習した可能性がある。そうであれば、{split} "
                      "で正解が {gold} のうちこれらを含む文がより多く {pred} と予測されることを説明しうる。",
    "possible_neighbours": "テスト文の正解と異なるラベルを持つ類似した学習文が、モデルをその正解から遠ざけた"
                           "可能性がある。そのような文のラベル付けが一貫していない可能性も、文言が本当に曖昧で"
                           "ある可能性もあり、この数値からはどちらか区別できない。",
    "possible_label_noise": "一部の正解ラベルには議論の余地がある、または誤りである可能性がある。下の候補は、"
                            "その行を見ていないモデルが最も確信して異なる判断をした行であり、読み直すことで"
                            "確かめられる。",
    "possible_short": "短い文（{bucket} 文字）は、感情を判断するための文脈が足りない可能性がある。",
    "ea_title": "誤り分析: fine-tuned モデル `{model}`",
    "ea_base": "ベースモデル `{base}`、リビジョン `{revision}`、コミット {commit}。",
    "ea_intro": "分割: {splits}。誤りとは、予測ラベルが正解ラベルと異なる例。confidence = 予測クラスの予測確率、"
                "gold_prob = 正解クラスの予測確率。率 = グループ内の誤り数 / 例数。有意水準: {alpha}。",
    "ea_words": "誤りに多く現れる単語",
    "ea_words_intro": "MeCab（unidic-lite、辞書形）で分割した単語のうち、その分割の {min_count} 文以上に現れる"
                      "ものを検定。error_rate = その単語を含む文の誤り率、rest_rate = 含まない文の誤り率、"
                      "q = Benjamini-Hochberg 補正後の p（その分割のすべての単語検定、つまり全体と各組をまとめて"
                      "補正）。全体: その分割のすべての誤り。組 gold→pred: 正解クラスの文のうち pred と予測された"
                      "もの。全表: reports/error_words.csv。",
    "ea_words_all": "{split}: すべての誤り",
    "ea_words_pair": "{split}: {pair}",
    "ea_words_none": "有意な単語はない。p が小さい {n} 語:",
    "ea_words_plot": "有意な単語: その単語を含む文と含まない文の誤り率",
    "ea_neighbours": "テストの誤りごとの最も類似した学習文",
    "ea_neighbours_intro": "類似度: {similarity}。テストの誤りごとに、最も類似した学習文 {k} 件とその正解ラベル、"
                           "アノテーターの一致、類似度。with_pred / with_gold: 予測 / 正解と同じラベルの近傍数。"
                           "reports/error_neighbours.csv にもある。",
    "similarity_tfidf": "学習文で fit した文字 1〜3-gram TF-IDF ベクトルのコサイン類似度",
    "similarity_model": "fine-tuned モデルの平均プーリング文ベクトルのコサイン類似度",
    "ea_label_issues": "ラベル誤りの候補（学習データ）",
    "ea_label_issues_intro": "TF-IDF モデル（params `tfidf`）の {folds} 分割交差検証による out-of-fold 確率。"
                             "self_confidence = 正解ラベルの out-of-fold 確率、rank 1 = 最も可能性が低い。各クラス"
                             "のしきい値はそのラベルの行での平均確率。しきい値を超えるクラス（自分のクラスを含む）"
                             "のうち最も確率の高いクラスが別クラスのとき candidate（confident learning）。全順位: "
                             "reports/label_issues.csv。",
    "ea_label_issues_skipped": "計算していない: {reason}。",
    "ea_crosstab_agreement": "アノテーターの一致度別の候補数",
    "ea_crosstab_majority": "正解ラベルとアノテーターの多数決の関係別の候補数",
    "ea_top_candidates": "正解ラベルの可能性が最も低い {n} 行",
    "ea_attributions": "最も確信度の高いテストの誤り {n} 件のトークン寄与",
    "ea_attributions_intro": "captum の LayerIntegratedGradients（単語埋め込み、{steps} ステップ、基準入力: "
                             "[PAD]）。score > 0: そのトークンが予測（誤り）クラスへ押した。change = 入力と基準"
                             "入力の予測クラス確率の差で、score の合計は delta の範囲でこれに等しい。"
                             "全スコア: reports/error_attributions.csv。",
    "ea_attributions_off": "トークン寄与は off（error_analysis.attributions = 0）。",
    "ea_tables": "誤りの所在",
    "ea_by_split": "分割別の誤り",
    "ea_by_pair": "混同の組別の誤り（率 = 正解クラスの例のうちの割合）",
    "ea_by_agreement": "アノテーターの一致度別の誤り（投票数から）",
    "ea_by_length": "文字数別の誤り",
    "ea_top_errors": "{split}: 確信度の高い誤り {n} 件",
    "ea_all_errors": "{split}: すべての誤り {n} 件",
    "plot_agreement": "{model}: アノテーターの一致度別の誤り率",
    "plot_length": "{model}: 文字数別の誤り率",
    "error_rate": "誤り率",
    "axis_word": "単語(誤り数 / その単語を含む文の数)",
    "axis_agreement": "アノテータの一致度",
    "axis_length": "文の長さ(文字数)",
    "plot_loss_axis": "損失",
    "plot_score_axis": "dev のスコア",
    "with_word": "その単語を含む文",
    "without_word": "含まない文",
    "standin_note": "**実際のモデルではなくオフラインの代替モデルによる結果**(metrics に `standin: true`): "
                    "`ja_sentiment.tools.standins` がハブ ID の下に置いた、ランダムに初期化したモデル"
                    "(`make smoke`、テスト)。この数値は実際のモデルについて何も示さない。",
    "commit": "、コミット {commit}",
    "trained_in": "、{precision} で学習",
    "sentence_end": "。",
    "sm_title": "実験のまとめ",
    "sm_intro": "`summary` ステージがこの実行の出力から生成。以下の数値はすべて同じ実行の metrics/ と reports/ "
                "による。",
    "sm_models": "モデル",
    "sm_models_header": "| 枠 | モデル | リビジョン | コミット |",
    "sm_comparison": "比較",
    "sm_comparison_header": "| モデル | 分割 | accuracy [95% 区間] | macro-F1 [95% 区間] | weighted-F1 | ECE |",
    "sm_intervals": "区間: 分割の行に対する {confidence:.0%} パーセンタイル・ブートストラップ（リサンプル "
                    "{resamples} 回、seed {seed}）。リサンプルにないクラスの F1 は点推定と同じく 0。ECE: 予測ラベル"
                    "の確率（中立帯の規則で中立と予測した行は p_neutral）の期待較正誤差（等幅 15 ビン、テストのみ）。",
    "sm_paired": "fine-tuned モデルは優れているか: テストの行での対応のある比較",
    "sm_paired_missing": "対応のある比較なし: fine-tuned モデルのテスト予測がない。",
    "sm_paired_header": "| fine-tuned と比較 | 指標 | fine-tuned | 相手 | 差 [95% 区間] | McNemar p | 判定 |",
    "sm_paired_note": "両モデルとも同じ {n} 行のテストデータ。差 = fine-tuned − 相手、対応のあるブートストラップ区間"
                      "（両モデルに同じリサンプル行）。McNemar: 片方だけが正解の行での正確検定。判定: 区間全体が 0 "
                      "より上か下にあるときだけ「優れる」「劣る」。それ以外はデータが差を示さず、判定欄にデータと"
                      "両立する差の範囲（ポイント）を示す。",
    "sm_reports": "分類レポートと混同行列（テスト）",
    "sm_model": "モデル: `{model}`",
    "sm_base": "（ベース `{base}`）",
    "sm_revision": "、リビジョン `{revision}`",
    "sm_threshold": "中立帯のしきい値: {threshold}（{band}）。",
    "sm_best_epoch": "dev macro-F1 が最良のエポック: {epoch}。",
    "sm_report": "テストの分類レポート:",
    "sm_confusion": "混同行列（テスト）",
    "sm_reliability": "信頼度図（テスト）",
    "sm_curve": "学習曲線（Level 2 / Level 4）",
    "sm_errors": "誤り分析（Level 3）の主な数値",
    "sm_errors_header": "| 分割 | 例数 | 誤り数 | 誤り率 | 誤り率（全員一致） | 誤り率（2-1） | 誤り率（三者三様） |",
    "sm_errors_more": "事実、考えられる原因、すべての誤分類例: reports/error_analysis.md と reports/errors.csv。",
    "title_baseline_plain": "Level 1: 既成モデル、2→3 ラベルの単純な対応付け",
    "title_baseline_band": "Level 1: 既成モデル、中立帯",
    "title_tfidf": "比較用: TF-IDF 文字 n-gram + ロジスティック回帰",
    "title_finetuned": "Level 2: fine-tuned モデル",
    "plot_loss": "エポックごとの損失",
    "plot_dev": "エポックごとの dev スコア",
    "epoch": "エポック",
    "better": "優れる",
    "worse": "劣る",
    "not distinguishable": "差は示されない",
    "compatible": "：データは差を示さない。差が {low} 〜 {high} ポイントの範囲であることと両立する",
}

TABLES = {"en": EN, "ja": JA}


class Text:
    """`t(key, **values)`: the sentence `key` in the report language, with the values filled in; from
    this module's tables, or from `tables` ({language: {key: sentence}}) of another report."""

    def __init__(self, language: str, tables: dict[str, dict[str, str]] | None = None) -> None:
        tables = TABLES if tables is None else tables
        if language not in tables:
            raise ValueError(f"report language must be one of {LANGUAGES}, got {language!r}")
        self.language = language
        self.table = tables[language]

    def __call__(self, key: str, **values: object) -> str:
        return self.table[key].format(**values)
