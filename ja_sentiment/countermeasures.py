"""The overfitting countermeasures of the Level 4 report: what each knob does, in English and Japanese,
and where the idea comes from.

Each `Countermeasure` names the params.yaml keys it sets, says in both report languages what it does
mechanically and why it may reduce overfitting (as a possibility wherever that is not established),
says what the baseline already does about it, and lists its sources. The texts were written for this
project in its own words; nothing is copied from the papers, their abstracts or any documentation.

Every field of every `Source` (authors, year, title, venue and identifier) was checked against stored
public records: publisher and proceedings pages (Springer, ACL Anthology, NeurIPS proceedings, CVF
open access, JAIR, OpenReview), arXiv listings and BibTeX entries. `id` is the arXiv id where the paper
has one, else its DOI; the two papers with neither (no DOI or arXiv id was found for them) carry their
publisher's stable page as `url:...`. `VERIFICATION` records, per source, how it was checked.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    authors: str  # "Surname, I.; Surname, I."
    year: int
    title: str
    venue: str
    id: str  # "arXiv:...", "doi:..." or, for papers with neither, "url:..."

    def cite(self) -> str:
        """One-line reference: authors (year). Title. Venue. id"""
        title = self.title if self.title.endswith(("?", "!", ".")) else self.title + "."
        return f"{self.authors} ({self.year}). {title} {self.venue}. {self.id}"


@dataclass(frozen=True)
class Countermeasure:
    key: str
    name: dict[str, str]  # {"en", "ja"}: its name in each report language (the report's heading)
    params: tuple[str, ...]  # the params.yaml keys it sets
    what: dict[str, str]  # {"en", "ja"}: what it does and why it may reduce overfitting
    baseline_note: dict[str, str]  # {"en", "ja"}: what the baseline already does ("" if nothing)
    sources: tuple[Source, ...]


PRECHELT_1998 = Source(
    authors="Prechelt, L.",
    year=1998,
    title="Early Stopping - But When?",
    venue="Neural Networks: Tricks of the Trade, LNCS 1524, Springer",
    id="doi:10.1007/3-540-49430-8_3",
)
DODGE_2020 = Source(
    authors="Dodge, J.; Ilharco, G.; Schwartz, R.; Farhadi, A.; Hajishirzi, H.; Smith, N.",
    year=2020,
    title="Fine-Tuning Pretrained Language Models: Weight Initializations, Data Orders, and Early Stopping",
    venue="arXiv preprint",
    id="arXiv:2002.06305",
)
ZHANG_2021 = Source(
    authors="Zhang, T.; Wu, F.; Katiyar, A.; Weinberger, K. Q.; Artzi, Y.",
    year=2021,
    title="Revisiting Few-sample BERT Fine-tuning",
    venue="ICLR 2021",
    id="arXiv:2006.05987",
)
LOSHCHILOV_2019 = Source(
    authors="Loshchilov, I.; Hutter, F.",
    year=2019,
    title="Decoupled Weight Decay Regularization",
    venue="ICLR 2019",
    id="arXiv:1711.05101",
)
KROGH_1992 = Source(
    authors="Krogh, A.; Hertz, J. A.",
    year=1992,
    title="A Simple Weight Decay Can Improve Generalization",
    venue="Advances in Neural Information Processing Systems 4 (NIPS 1991), pp. 950-957",
    id="url:https://papers.nips.cc/paper/1991/hash/8eefcfdf5990e441f0fb6f3fad709e21-Abstract.html",
)
SRIVASTAVA_2014 = Source(
    authors="Srivastava, N.; Hinton, G.; Krizhevsky, A.; Sutskever, I.; Salakhutdinov, R.",
    year=2014,
    title="Dropout: A Simple Way to Prevent Neural Networks from Overfitting",
    venue="Journal of Machine Learning Research 15(56), pp. 1929-1958",
    id="url:https://jmlr.org/papers/v15/srivastava14a.html",
)
SZEGEDY_2016 = Source(
    authors="Szegedy, C.; Vanhoucke, V.; Ioffe, S.; Shlens, J.; Wojna, Z.",
    year=2016,
    title="Rethinking the Inception Architecture for Computer Vision",
    venue="CVPR 2016, pp. 2818-2826",
    id="arXiv:1512.00567",
)
MULLER_2019 = Source(
    authors="Müller, R.; Kornblith, S.; Hinton, G. E.",
    year=2019,
    title="When Does Label Smoothing Help?",
    venue="NeurIPS 2019",
    id="arXiv:1906.02629",
)
LEE_2019 = Source(
    authors="Lee, J.; Tang, R.; Lin, J.",
    year=2019,
    title="What Would Elsa Do? Freezing Layers During Transformer Fine-Tuning",
    venue="arXiv preprint",
    id="arXiv:1911.03090",
)
HOWARD_2018 = Source(
    authors="Howard, J.; Ruder, S.",
    year=2018,
    title="Universal Language Model Fine-tuning for Text Classification",
    venue="ACL 2018, pp. 328-339",
    id="arXiv:1801.06146",
)
SUN_2019 = Source(
    authors="Sun, C.; Qiu, X.; Xu, Y.; Huang, X.",
    year=2019,
    title="How to Fine-Tune BERT for Text Classification?",
    venue="CCL 2019, pp. 194-206",
    id="arXiv:1905.05583",
)
PETERSON_2019 = Source(
    authors="Peterson, J. C.; Battleday, R. M.; Griffiths, T. L.; Russakovsky, O.",
    year=2019,
    title="Human Uncertainty Makes Classification More Robust",
    venue="ICCV 2019",
    id="arXiv:1908.07086",
)
UMA_2021 = Source(
    authors="Uma, A. N.; Fornaciari, T.; Hovy, D.; Paun, S.; Plank, B.; Poesio, M.",
    year=2021,
    title="Learning from Disagreement: A Survey",
    venue="Journal of Artificial Intelligence Research 72, pp. 1385-1470",
    id="doi:10.1613/jair.1.12752",
)
FORNACIARI_2021 = Source(
    authors="Fornaciari, T.; Uma, A.; Paun, S.; Plank, B.; Hovy, D.; Poesio, M.",
    year=2021,
    title="Beyond Black & White: Leveraging Annotator Disagreement via Soft-Label Multi-Task Learning",
    venue="NAACL-HLT 2021, pp. 2591-2597",
    id="doi:10.18653/v1/2021.naacl-main.204",
)
KING_2001 = Source(
    authors="King, G.; Zeng, L.",
    year=2001,
    title="Logistic Regression in Rare Events Data",
    venue="Political Analysis 9(2), pp. 137-163",
    id="doi:10.1093/oxfordjournals.pan.a004868",
)
CUI_2019 = Source(
    authors="Cui, Y.; Jia, M.; Lin, T.-Y.; Song, Y.; Belongie, S.",
    year=2019,
    title="Class-Balanced Loss Based on Effective Number of Samples",
    venue="CVPR 2019",
    id="arXiv:1901.05555",
)
NORTHCUTT_2021 = Source(
    authors="Northcutt, C. G.; Jiang, L.; Chuang, I. L.",
    year=2021,
    title="Confident Learning: Estimating Uncertainty in Dataset Labels",
    venue="Journal of Artificial Intelligence Research 70, pp. 1373-1411",
    id="arXiv:1911.00068",
)

LI_2018 = Source(
    authors="Li, X.; Grandvalet, Y.; Davoine, F.",
    year=2018,
    title="Explicit Inductive Bias for Transfer Learning with Convolutional Networks",
    venue="ICML 2018",
    id="arXiv:1802.01483",
)
LIANG_2021 = Source(
    authors="Liang, X.; Wu, L.; Li, J.; Wang, Y.; Meng, Q.; Qin, T.; Chen, W.; Zhang, M.; Liu, T.-Y.",
    year=2021,
    title="R-Drop: Regularized Dropout for Neural Networks",
    venue="NeurIPS 2021",
    id="arXiv:2106.14448",
)
IZMAILOV_2018 = Source(
    authors="Izmailov, P.; Podoprikhin, D.; Garipov, T.; Vetrov, D.; Wilson, A. G.",
    year=2018,
    title="Averaging Weights Leads to Wider Optima and Better Generalization",
    venue="UAI 2018",
    id="arXiv:1803.05407",
)
HU_2022 = Source(
    authors="Hu, E. J.; Shen, Y.; Wallis, P.; Allen-Zhu, Z.; Li, Y.; Wang, S.; Wang, L.; Chen, W.",
    year=2022,
    title="LoRA: Low-Rank Adaptation of Large Language Models",
    venue="ICLR 2022",
    id="arXiv:2106.09685",
)
MOSBACH_2021 = Source(
    authors="Mosbach, M.; Andriushchenko, M.; Klakow, D.",
    year=2021,
    title="On the Stability of Fine-tuning BERT: Misconceptions, Explanations, and Strong Baselines",
    venue="ICLR 2021",
    id="arXiv:2006.04884",
)


COUNTERMEASURES: dict[str, Countermeasure] = {
    "fewer_epochs": Countermeasure(
        key="fewer_epochs",
        name={"en": "Fewer epochs", "ja": "エポック数を減らす"},
        params=("train.epochs",),
        what={
            "en": (
                "Trains for fewer passes over the training set (train.epochs; studies/overfitting.yaml tries "
                "train.epochs: 2). Training loss keeps falling with more epochs; if later epochs fit the "
                "noise and quirks of individual training sentences, dev performance can get worse, and "
                "ending training earlier may stop the model before that point. Whether the baseline's later "
                "epochs do overfit is for the learning curves to show, not assumed here. The risk is "
                "under-training: Zhang et al. (2021) report that commonly used short fine-tuning schedules "
                "can leave BERT under-trained, and Mosbach et al. (2021) trace the instability of BERT "
                "fine-tuning to optimisation difficulties (vanishing gradients) rather than to small data "
                "sets, with a baseline that trains longer with bias-corrected Adam (as torch's AdamW, used "
                "here, does). Since the learning rate decays linearly over all of "
                "train.epochs after the warm-up, changing the number of epochs also changes how fast it "
                "decays, so this is not the same as cutting a longer run short."
            ),
            "ja": (
                "訓練データを何周学習するか（train.epochs）を減らす。studies/overfitting.yaml では "
                "train.epochs: 2 を試す。エポックを重ねるほど訓練データ上の損失は下がり続けるが、後半のエポ"
                "ック"
                "が個々の訓練文に固有の雑音や偶然の特徴まで覚え込むなら、dev 上の性能はかえって悪化しうる。"
                "学習を早めに終えれば、その手前でモデルを止められる可能性がある。基準設定の後半のエポックが"
                "実際"
                "に過学習しているかどうかは学習曲線で確かめることで、ここでは前提にしない。一方で学習不足の"
                "危険"
                "もあり、Zhang ら（2021）は広く使われる短い学習スケジュールでは BERT の学習が足りない場合が"
                "ある"
                "と報告している。Mosbach ら（2021）は BERT のファインチューニングの不安定さの原因を、小さな"
                "データセットではなく最適化の難しさ（勾配の消失）に求め、バイアス補正のある Adam（ここで使う "
                "torch の AdamW もそうである）でより長く学習する基準手法を示している。"
                "また学習率はウォームアップの後 train.epochs 全体にわたって線形に減衰するた"
                "め、"
                "エポック数を変えると減衰の速さも変わり、長い学習を途中で打ち切ることと同じではない。"
            ),
        },
        baseline_note={
            "en": (
                "The baseline trains 5 epochs and keeps the epoch with the best dev macro-F1 "
                "(load_best_model_at_end), so an epoch after the best one is never the model evaluated, "
                "whether or not it overfits. Fewer epochs therefore mostly save training time; the model "
                "changes only through the shorter learning-rate schedule, or when the best dev epoch lies "
                "beyond the new limit."
            ),
            "ja": (
                "基準設定は5エポック学習し、dev の macro-F1 が最良のエポックを残す（load_best_model_at_end"
                "）。"
                "そのため最良のエポックより後のエポックは、過学習しているかどうかにかかわらず評価されるモデ"
                "ルに"
                "ならない。したがってエポック数を減らす効果は主に学習時間の節約である。モデルが変わるのは、"
                "学習率スケジュールが短くなることによる場合と、最良のエポックが新しい上限より後ろにあった場合"
                "に限られる。"
            ),
        },
        sources=(PRECHELT_1998, ZHANG_2021, MOSBACH_2021),
    ),
    "early_stopping": Countermeasure(
        key="early_stopping",
        name={"en": "Early stopping", "ja": "早期終了"},
        params=("train.early_stopping_patience",),
        what={
            "en": (
                "Evaluates dev macro-F1 after every epoch and stops training once it has not improved for "
                "train.early_stopping_patience epochs in a row (0 turns it off; studies/overfitting.yaml "
                "tries train.early_stopping_patience: 1). Dev performance that stalls while training loss "
                "keeps falling may mean that further epochs fit the training set rather than the task, so "
                "stopping there may avoid those epochs. Prechelt (1998) shows that the choice of stopping "
                "criterion trades training time against small gains in generalisation. Dodge et al. (2020) "
                "use the term in a related sense for BERT: abandoning unpromising fine-tuning runs early, "
                "since on small data sets many runs diverge part of the way through training."
            ),
            "ja": (
                "各エポックの後に dev の macro-F1 を評価し、train.early_stopping_patience エポック続けて改善"
                "がなければ学習を打ち切る（0 で無効。studies/overfitting.yaml では "
                "train.early_stopping_patience: 1 を試す）。訓練損失が下がり続けるのに dev の性能が伸びなく"
                "なるのは、それ以降のエポックがタスクではなく訓練データそのものに合わせている兆候である可能性"
                "があり、そこで止めればそうしたエポックを避けられる可能性がある。Prechelt（1998）は、"
                "停止基準の選び方が学習時間と汎化性能のわずかな向上とのトレードオフになることを示している。"
                "Dodge ら（2020）は BERT について、小さなデータセットでは多くの試行が学習の途中で発散するた"
                "め、見込みのない試行を早めに打ち切るという、関連した意味での早期終了を論じている。"
            ),
        },
        baseline_note={
            "en": (
                "The baseline already keeps the best dev epoch, so early stopping cannot choose a different "
                "model among the epochs it still trains; it mostly saves the time of the remaining epochs. "
                "The result changes only if dev macro-F1 would have improved again after the patience ran "
                "out, and then stopping misses that better epoch."
            ),
            "ja": (
                "基準設定はすでに dev で最良のエポックを残すため、早期終了は学習したエポックの中から別の"
                "モデルを選ぶことにはならず、主に残りのエポックの時間を節約するだけである。結果が変わるのは、"
                "改善を待つエポック数（patience）を使い切った後に dev の macro-F1 が再び改善したはずの場合で"
                "あり、そのときはより良いエポックを逃すことになる。"
            ),
        },
        sources=(PRECHELT_1998, DODGE_2020),
    ),
    "weight_decay": Countermeasure(
        key="weight_decay",
        name={"en": "Weight decay", "ja": "重み減衰"},
        params=("train.weight_decay",),
        what={
            "en": (
                "At every step AdamW shrinks each decayed weight by a small fraction of its value (learning "
                "rate × train.weight_decay; studies/overfitting.yaml tries train.weight_decay: 0.1), "
                "separately from the gradient update; the Trainer exempts biases and LayerNorm weights. This "
                "is the decoupled form of Loshchilov & Hutter (2019): unlike an L2 penalty added to the los"
                "s, "
                "it is not rescaled by Adam's per-parameter step sizes. Keeping weights small may limit how "
                "closely the model can fit individual training examples: Krogh & Hertz (1992) prove for "
                "linear networks, and extend the argument to networks with hidden layers, that weight decay "
                "suppresses irrelevant weight components and, at the right strength, part of the effect of "
                "noise on the targets. In fine-tuning the decay pulls weights toward zero, not toward the "
                "pre-trained values, so a larger value is not guaranteed to help."
            ),
            "ja": (
                "AdamW は各ステップで、減衰の対象となる重みをその値の一定割合（学習率 × train.weight_decay）"
                "だけ縮める（studies/overfitting.yaml では train.weight_decay: 0.1 を試す）。これは勾配による"
                "更新とは別に行われ、バイアスと LayerNorm の重みは Trainer が対象から外している。Loshchilov"
                " と"
                " Hutter（2019）の分離型（decoupled）重み減衰であり、損失に L2 罰則項を加える方式と違って、"
                "縮める量が Adam のパラメータごとのステップ幅で変わらない。重みを小さく保つと、モデルが個々の"
                "訓練例に細かく合わせすぎることを抑える可能性がある。Krogh と Hertz（1992）は線形ネットワーク"
                "について、重み減衰が不要な重み成分を抑え、強さが適切なら目標値の雑音の影響の一部も抑えるこ"
                "とを"
                "証明し、隠れ層のあるネットワークに議論を拡張している。ただしファインチューニングでは重みは"
                "事前"
                "学習の値ではなく 0 に向かって引かれるため、値を大きくすれば良くなるとは限らない。"
            ),
        },
        baseline_note={
            "en": "The baseline already uses AdamW with weight decay 0.01; this knob changes its strength.",
            "ja": "基準設定はすでに重み減衰 0.01 の AdamW を使っており、このノブはその強さを変える。",
        },
        sources=(LOSHCHILOV_2019, KROGH_1992),
    ),
    "dropout": Countermeasure(
        key="dropout",
        name={"en": "Dropout", "ja": "ドロップアウト"},
        params=("train.hidden_dropout", "train.attention_dropout", "train.classifier_dropout"),
        what={
            "en": (
                "During training, dropout sets values to 0 at random with the given probability and scales "
                "the survivors up: train.hidden_dropout applies to the output of the embeddings and to the "
                "outputs of each layer's two sub-layers (self-attention and feed-forward, before their "
                "residual addition and LayerNorm), train.attention_dropout to the attention probabilities, "
                "and train.classifier_dropout to the pooled output that enters the classification head. "
                "studies/overfitting.yaml tries train.hidden_dropout: 0.2, train.attention_dropout: 0.2 and "
                "train.classifier_dropout: 0.3. Each training step thus trains a randomly thinned network; "
                "Srivastava et al. (2014) describe training as sampling thinned networks that share their "
                "weights, and the full network used at test time as an approximation of averaging their "
                "predictions. Since no unit can rely on particular other units, co-adapted features that fit "
                "only the training set may be discouraged. Higher rates regularise more strongly but slow "
                "learning and can underfit."
            ),
            "ja": (
                "ドロップアウトは、学習中に値を指定の確率でランダムに 0 にし、残りを拡大して埋め合わせる。"
                "train.hidden_dropout は埋め込み層の出力と、各層の二つの副層（自己注意とフィードフォワード"
                "）の"
                "出力（残差接続と LayerNorm の前）に、train.attention_dropout はアテンションの重み（確率）"
                "に、"
                "train.classifier_dropout は分類ヘッドに入るプーラーの出力にかかる。studies/overfitting.yaml "
                "では train.hidden_dropout: 0.2、train.attention_dropout: 0.2、train.classifier_dropout: 0.3 "
                "を試す。各学習ステップはランダムに間引かれたネットワークを学習することになる。Srivastava ら"
                "（2014）は、学習を重みを共有する間引かれたネットワークの標本抽出として説明し、テスト時に使う"
                "間引かないネットワークがそれらの予測の平均の近似になるとしている。どのユニットも特定の他の"
                "ユニットを当てにできないため、訓練データにだけ合う特徴の組み合わせ（共適応）ができにくくなる"
                "可能性がある。率を上げるほど正則化は強まるが、学習が遅くなり、学習不足に陥ることもある。"
            ),
        },
        baseline_note={
            "en": (
                "The baseline already applies 0.1 to all three (a null classifier_dropout takes the "
                "hidden_dropout value)."
            ),
            "ja": (
                "基準設定はすでに3つすべてに 0.1 を使っている（classifier_dropout が null のときは "
                "hidden_dropout の値になる）。"
            ),
        },
        sources=(SRIVASTAVA_2014,),
    ),
    "label_smoothing": Countermeasure(
        key="label_smoothing",
        name={"en": "Label smoothing", "ja": "ラベル平滑化"},
        params=("train.label_smoothing",),
        what={
            "en": (
                "Replaces the one-hot target with a mixture: the gold class keeps 1 − ε of the probability "
                "and ε (train.label_smoothing; studies/overfitting.yaml tries train.label_smoothing: 0.1) is "
                "spread evenly over all three classes. With one-hot targets the loss keeps rewarding ever "
                "larger gaps between the gold logit and the others, so the model can become over-confident "
                "on its training sentences; smoothing makes an unbounded gap pointless and may therefore act "
                "as a regulariser (Szegedy et al., 2016). Müller et al. (2019) find that it also tends to "
                "improve calibration, but that it erases some information about which classes resemble each "
                "other. It does not make wrong labels right."
            ),
            "ja": (
                "ラベル平滑化は、正解クラスだけが 1 の one-hot の目標を混合分布に置き換え、正解クラスに 1 − ε"
                " を残し、ε（train.label_smoothing。studies/overfitting.yaml では train.label_smoothing: 0."
                "1 を"
                "試す）を3クラスに均等に配る。one-hot の目標のままでは、正解のロジットと他のロジットとの差"
                "を広"
                "げるほど損失が下がり続けるため、モデルが訓練文に対して過信しやすい。平滑化すると差を際限な"
                "く広"
                "げても得にならなくなり、正則化として働く可能性がある（Szegedy ら、2016）。Müller ら（2019）"
                "は、較正も改善しやすい一方で、どのクラス同士が似ているかという情報の一部が失われることを報告"
                "している。誤ったラベルを正しくするわけではない。"
            ),
        },
        baseline_note={
            "en": "Off in the baseline (0.0).",
            "ja": "基準設定では使っていない（0.0）。",
        },
        sources=(SZEGEDY_2016, MULLER_2019),
    ),
    "freeze_layers": Countermeasure(
        key="freeze_layers",
        name={"en": "Freezing the lower layers", "ja": "下位層の凍結"},
        params=("train.freeze_layers",),
        what={
            "en": (
                "Keeps the embeddings and the bottom N encoder layers (train.freeze_layers; "
                "studies/overfitting.yaml tries train.freeze_layers: 2, which on the 2-layer offline "
                "stand-ins is every encoder layer) at their pre-trained values; only the upper layers, the "
                "pooler and the classification head are updated. Fewer trainable parameters leave less "
                "capacity to memorise the training set, and the lower layers, which tend to encode general "
                "language features, cannot drift away from what pre-training learned; this may reduce "
                "overfitting on a small corpus. Lee et al. (2019) find that fine-tuning only the upper part "
                "of BERT keeps most of its quality and that updating all layers does not always help; "
                "ULMFiT's gradual unfreezing (Howard & Ruder, 2018) likewise starts from the top layer. "
                "Freezing too much can underfit."
            ),
            "ja": (
                "埋め込み層と下位 N 層のエンコーダ層（train.freeze_layers。studies/overfitting.yaml では "
                "train.freeze_layers: 2 を試し、2層のオフライン代替モデルではすべてのエンコーダ層にあたる）を"
                "事前学習の値のまま固定し、上位の層、プーラー、分類ヘッドだけを更新する。学習できるパラメータ"
                "が減れば訓練データを丸暗記する余地が小さくなり、汎用的な言語の特徴を担うことの多い下位層が"
                "事前学習で得たものから離れなくなるため、小さなコーパスでの過学習を減らせる可能性がある。"
                "Lee ら（2019）は BERT の上位の層だけをファインチューニングしても性能の大部分が保たれ、"
                "全層の更新が常に有利とは限らないことを示しており、ULMFiT の段階的な凍結解除（Howard と "
                "Ruder、2018）も最上位の層から学習を始める。ただし固定しすぎると学習不足になりうる。"
            ),
        },
        baseline_note={
            "en": "Off in the baseline (0): every layer is fine-tuned.",
            "ja": "基準設定では使っていない（0）。すべての層をファインチューニングする。",
        },
        sources=(LEE_2019, HOWARD_2018),
    ),
    "soft_labels": Countermeasure(
        key="soft_labels",
        name={"en": "Soft labels (annotators' vote shares)", "ja": "ソフトラベル（アノテータの票の割合）"},
        params=("train.soft_labels",),
        what={
            "en": (
                "Trains with cross-entropy against each sentence's share of the three annotators' votes per "
                "class (for example 2/3 positive, 1/3 neutral) instead of its single gold label, as the only "
                "target (train.soft_labels; studies/overfitting.yaml tries train.soft_labels: true). "
                "Sentences on which the annotators disagreed then no longer push the model toward full "
                "confidence in one class; this may reduce overfitting to ambiguous cases and improve "
                "calibration. The evidence is indirect. Uma et al. (2021) survey learning from disagreement: "
                "on data sets with many judgments per item from high-quality annotators, training on soft "
                "labels alone did better than on aggregated or even gold labels; where that does not hold, "
                "combining gold and soft labels generally did best when models are evaluated against gold "
                "labels (hard evaluation). This project has 3 votes per row and a hard evaluation (macro-F1 "
                "on gold labels), the second case, and this knob trains on soft labels alone, not on that "
                "combination. Peterson et al. (2019) trained image classifiers on CIFAR-10 with human label "
                "distributions and found better generalisation to out-of-distribution test images and more "
                "robustness to adversarial attacks. Fornaciari et al. (2021), on part-of-speech tagging and "
                "stemming, predict the vote distribution as an auxiliary task beside the gold label, not as "
                "the only target as here."
            ),
            "ja": (
                "各文の正解ラベル1つの代わりに、3人のアノテータの票のクラスごとの割合（例：positive 2/3、"
                "neutral 1/3）、すなわちソフトラベルだけを目標とする交差エントロピーで学習する"
                "（train.soft_labels。studies/overfitting.yaml では train.soft_labels: true を試す）。"
                "意見が割れた文が、モデルを1つのクラスへの完全な確信へと押しやらなくなるため、曖昧な例への"
                "過学習の軽減や較正の改善につながる可能性がある。根拠は間接的である。Uma ら（2021）は意見の"
                "不一致からの学習を概観し、1項目に質の高いアノテータの判断が多数あるデータでは、ソフトラベル"
                "だけの学習が集約したラベルや正解ラベルでの学習より良く、そうでない場合、正解ラベルに対して"
                "評価する（ハードな評価）なら正解ラベルとソフトラベルの併用がおおむね最も良かったとしている。"
                "この計画は1行3票で、評価はハードな評価（正解ラベルに対する macro-F1）なので後者にあたり、"
                "このノブはソフトラベルだけで学習するもので、その併用ではない。Peterson ら（2019）は "
                "CIFAR-10 の画像分類で人間のラベル分布を使って学習し、分布外のテスト画像への汎化と敵対的攻撃"
                "への頑健性が改善したと報告している。Fornaciari ら（2021）は品詞タグ付けと語幹抽出で、票の"
                "分布"
                "を正解ラベルと並ぶ補助タスクとして予測しており、ここのように唯一の目標とはしていない。"
            ),
        },
        baseline_note={
            "en": (
                "The baseline trains on the gold label alone. With soft labels on, dev (which picks the best "
                "epoch) and test are still scored against gold labels."
            ),
            "ja": (
                "基準設定は正解ラベルだけで学習する。ソフトラベルを使う場合も、最良エポックを選ぶ dev と "
                "test の評価は正解ラベルに対して行う。"
            ),
        },
        sources=(UMA_2021, PETERSON_2019, FORNACIARI_2021),
    ),
    "class_weights": Countermeasure(
        key="class_weights",
        name={"en": "Class weights", "ja": "クラスの重み付け"},
        params=("train.class_weights",),
        what={
            "en": (
                "Weights the loss per target class: each class's term of the cross-entropy is multiplied by "
                "n_samples / (n_classes × class count) (train.class_weights: balanced, as "
                "studies/overfitting.yaml tries: scikit-learn's heuristic, which its documentation says is "
                "inspired by King & Zeng, 2001), so that every class contributes the same total weight. "
                "With one-hot targets this is the weight of the example's gold class; with label smoothing "
                "or soft labels the target spreads over several classes, and each class's share is weighted "
                "by its own class weight. The training set is imbalanced with a positive majority, and "
                "unweighted training tends to favour the majority class. This addresses class imbalance more "
                "than overfitting: it may raise minority-class recall and thus macro-F1, but it also "
                "magnifies the few minority examples, which may make overfitting to them more likely. Cui et "
                "al. (2019) propose a milder re-weighting based on an effective number of samples per class, "
                "between no weighting and inverse-frequency weighting."
            ),
            "ja": (
                "損失を目標のクラスごとに重み付けする。交差エントロピーの各クラスの項に n_samples / "
                "(n_classes × クラスの件数) を掛け、どのクラスも合計では同じ重みで寄与するようにする"
                "（train.class_weights: balanced。studies/overfitting.yaml で試す設定で、scikit-learn の経"
                "験則。"
                "そのドキュメントは King と Zeng（2001）に着想を得たとしている）。one-hot の目標ではこれは"
                "その例の正解クラスの重みになり、ラベル平滑化やソフトラベルでは目標が複数のクラスに広がり、"
                "各クラスの割合がそのクラスの重みで重み付けされる。訓練データは positive が多数を占める不均"
                "衡な"
                "もので、重みなしの学習は多数派クラスに偏りやすい。この手法が主に対象とするのは過学習ではなく"
                "クラス不均衡であり、少数派クラスの再現率、ひいては macro-F1 を上げる可能性がある一方、少数派"
                "クラスの数少ない訓練例の影響を大きくするため、それらへの過学習を招きやすくする可能性もある。"
                "Cui ら（2019）は、クラスごとの「有効サンプル数」に基づき、重みなしと頻度の逆数による重みの"
                "中間にあたる、より穏やかな重み付けを提案している。"
            ),
        },
        baseline_note={
            "en": "The baseline uses no class weights (none).",
            "ja": "基準設定ではクラスの重みを使っていない（none）。",
        },
        sources=(KING_2001, CUI_2019),
    ),
    "layer_lr_decay": Countermeasure(
        key="layer_lr_decay",
        name={"en": "Layer-wise learning-rate decay", "ja": "層ごとの学習率減衰"},
        params=("train.layer_lr_decay",),
        what={
            "en": (
                "Gives the classification head and the pooler the base learning rate (train.learning_rate), "
                "the top encoder layer that rate × train.layer_lr_decay, each lower layer the rate of the "
                "layer above × the decay again, and the embeddings the rate of the bottom layer × the decay: "
                "with L encoder layers, layer i (counted from 0 at the bottom) learns at rate × decay^(L − "
                "i) "
                "and the embeddings at rate × decay^(L + 1), so the lowest layers move least (1.0 turns it "
                "off; studies/overfitting.yaml tries train.layer_lr_decay: 0.9, which on the 12-layer model "
                "gives the embeddings 0.9^13 ≈ 0.25 of the rate). Lower layers tend to hold general features "
                "that transfer across tasks, upper layers more task-specific ones; updating the lower ones "
                "more gently may preserve pre-trained knowledge and leave less room for fitting the small "
                "training set. Howard & Ruder (2018) introduced per-layer learning rates as discriminative "
                "fine-tuning, and Sun et al. (2019) report that a decay factor below 1 can improve BERT on "
                "text classification."
            ),
            "ja": (
                "層ごとの学習率減衰では、分類ヘッドとプーラーに基本の学習率（train.learning_rate）を、最上"
                "位の"
                "エンコーダ層にその学習率 × train.layer_lr_decay を、それより下の層には一つ上の層の学習率に"
                "さらに減衰率を掛けた値を、埋め込み層には最下位の層の学習率に減衰率を掛けた値を与える。"
                "エンコーダが L 層なら、下から 0 で数えて i 番目の層の学習率は 学習率 × 減衰率^(L − i)、"
                "埋め込み層は 学習率 × 減衰率^(L + 1) になり、下位の層ほど動きが小さい（1.0 で無効。"
                "studies/overfitting.yaml では train.layer_lr_decay: 0.9 を試し、12層のモデルでは埋め込み層の"
                "学習率は 0.9^13 ≈ 0.25 倍になる）。下位の層はタスクをまたいで使える汎用的な特徴を、上位の"
                "層は"
                "よりタスク固有の特徴を持つ傾向があり、下位の層を穏やかに更新すれば事前学習で得た知識が保た"
                "れ、"
                "小さな訓練データに合わせすぎる余地が減る可能性がある。Howard と Ruder（2018）は層ごとに異"
                "なる"
                "学習率を discriminative fine-tuning として導入し、Sun ら（2019）は減衰率を 1 未満にすると "
                "BERT のテキスト分類の精度が上がりうると報告している。"
            ),
        },
        baseline_note={
            "en": "Off in the baseline (1.0): every layer uses the same learning rate.",
            "ja": "基準設定では使っていない（1.0）。すべての層が同じ学習率を使う。",
        },
        sources=(HOWARD_2018, SUN_2019),
    ),
    "reinit_layers": Countermeasure(
        key="reinit_layers",
        name={"en": "Re-initialising the top layers", "ja": "上位層の再初期化"},
        params=("train.reinit_layers",),
        what={
            "en": (
                "Before fine-tuning, replaces the pooler and the top N encoder layers (train.reinit_layers; "
                "studies/overfitting.yaml tries train.reinit_layers: 2, which on the 2-layer offline "
                "stand-ins is every encoder layer) with freshly initialised weights and keeps the "
                "pre-trained layers below (0 turns it off). Zhang et al. (2021) find that the top layers of "
                "pre-trained BERT can be a poor starting point for fine-tuning, and that re-initialising "
                "them sped up learning and improved results in their few-sample experiments. Any effect on "
                "overfitting is indirect: it may stop the classifier from leaning on features shaped by the "
                "pre-training objective, but the new layers must be learnt from the training set alone, "
                "which may itself overfit when N is large or the data are few."
            ),
            "ja": (
                "ファインチューニングの前に、プーラーと最上位の N 層のエンコーダ層（train.reinit_layers。"
                "studies/overfitting.yaml では train.reinit_layers: 2 を試し、2層のオフライン代替モデルでは"
                "すべてのエンコーダ層にあたる）を新しく初期化した重みに置き換え、それより下の事前学習済みの層"
                "はそのまま残す（0 で無効）。Zhang ら（2021）は、事前学習済み BERT の最上位の層がファイン"
                "チューニングの出発点として不利な場合があり、それらを初期化し直すと少数サンプルの実験で学習が"
                "速まり結果も改善したことを示している。過学習への効果は間接的である。事前学習の目的に合わせて"
                "形作られた特徴に分類器が頼ることを防ぐ可能性がある一方、新しい層は訓練データだけから学ぶ必要"
                "があるため、N が大きい場合やデータが少ない場合にはそれ自体が過学習する可能性がある。"
            ),
        },
        baseline_note={
            "en": "Off in the baseline (0).",
            "ja": "基準設定では使っていない（0）。",
        },
        sources=(ZHANG_2021,),
    ),
    "drop_label_issues": Countermeasure(
        key="drop_label_issues",
        name={"en": "Dropping suspected label errors", "ja": "誤ラベルが疑われる行の除外"},
        params=("train.drop_label_issues",),
        what={
            "en": (
                "Leaves out of training the N training rows (train.drop_label_issues; "
                "studies/overfitting.yaml tries train.drop_label_issues: 100) whose gold label a held-out "
                "model finds least likely: a TF-IDF classifier trained by k-fold cross-validation gives "
                "every row the out-of-fold probability of its own label (its self-confidence), and the N "
                "lowest are dropped; dev and test are untouched. This is a simplified variant of confident "
                "learning (Northcutt et al., 2021): one global ranking by self-confidence with N chosen by "
                "hand, where confident learning estimates from its confident joint how many rows to prune "
                "in each class. Dropping N rows can shift the class balance of the training set: the "
                "report's table of what each knob did lists the rows dropped per class. If many of these "
                "rows are mislabelled, the model no longer has to memorise them, which may reduce "
                "overfitting to label noise; but a low-confidence row may also be a correctly labelled, "
                "merely unusual or ambiguous sentence, so dropping it removes real signal, and the ranking "
                "inherits the blind spots of the TF-IDF model."
            ),
            "ja": (
                "その行を学習に使っていないモデルから見て正解ラベルの確からしさが最も低い N 行の訓練データ"
                "（train.drop_label_issues。studies/overfitting.yaml では train.drop_label_issues: 100 を試"
                "す）"
                "を学習から除く。k 分割交差検証で学習した TF-IDF の分類器が、各行に、その行を見ていないモデル"
                "による自身のラベルの確率（self-confidence）を与え、その低い順に N 行を除く。dev と test には"
                "手を付けない。これは confident learning（Northcutt ら、2021）を簡略化したもので、"
                "self-confidence による全体で一つの順位付けと手で決めた N を使う。confident learning 自体は、"
                "confident joint から各クラスで何行を除くかを推定する。N 行を除くと訓練データのクラスの比率が"
                "変わりうるため、レポートの「対策が実際に何をしたか」の表に、除いた行のクラス別の数を載せる。"
                "除いた行の多くが誤ラベルなら、モデルはそれらを丸暗記する必要がなくなり、ラベル雑音への過学習"
                "を減らせる可能性がある。一方、確信度の低い行が、ラベルは正しいが珍しい、あるいは曖昧な文で"
                "あることもあり、除けば本物の情報も失われる。また順位付けは TF-IDF モデルの弱点をそのまま引き"
                "継ぐ。"
            ),
        },
        baseline_note={
            "en": (
                "The baseline trains on every training row; Level 3 only lists the candidates for re-reading."
            ),
            "ja": "基準設定はすべての訓練行で学習する。Level 3 は候補を読み直し用に挙げるだけである。",
        },
        sources=(NORTHCUTT_2021,),
    ),
    "l2_sp": Countermeasure(
        key="l2_sp",
        name={"en": "L2-SP (pull toward the pre-trained weights)", "ja": "L2-SP(事前学習の重みへの引き戻し)"},
        params=("train.l2_sp",),
        what={
            "en": (
                "Adds to the loss train.l2_sp / 2 × the squared distance of the pre-trained weights from "
                "their values at the start of fine-tuning (0 turns it off; studies/overfitting.yaml tries "
                "train.l2_sp: 0.01). The new classification head and re-initialised layers have no "
                "pre-trained values and are not pulled. Li, Grandvalet & Davoine (2018) propose this L2-SP "
                "penalty, with the pre-trained model as the reference point instead of zero, for "
                "fine-tuning convolutional networks on image tasks: the evidence is on image networks. "
                "Keeping the weights near the pre-trained solution may keep more of what pre-training "
                "learned and leave less room to fit the small training set. The penalty is part of the "
                "loss, so Adam rescales its gradient per parameter; AdamW's decoupled weight decay "
                "(train.weight_decay) still pulls the decayed weights toward zero at the same time, so with "
                "both on the weights are drawn toward a point between the two (train.weight_decay: 0 leaves "
                "L2-SP alone)."
            ),
            "ja": (
                "事前学習済みの重みと、ファインチューニング開始時のその値との距離の二乗に train.l2_sp / 2 を"
                "掛けたものを損失に加える（0 で無効。studies/overfitting.yaml では train.l2_sp: 0.01 を試す"
                "）。"
                "新しい分類ヘッドと再初期化した層には事前学習の値がないので引き戻さない。Li、Grandvalet と "
                "Davoine（2018）は、0 ではなく事前学習のモデルを基準点とするこの L2-SP の罰則を、画像分類の"
                "畳み込みネットワークのファインチューニングについて提案しており、根拠は画像のネットワークに"
                "ついてのものである。重みを事前学習の解の近くに保てば、事前学習で得たものがより多く残り、"
                "小さな訓練データに合わせすぎる余地が減る可能性がある。この罰則は損失の一部なので、その勾配"
                "は "
                "Adam によってパラメータごとに尺度を変えられる。AdamW の分離型の重み減衰"
                "（train.weight_decay）は同時に減衰対象の重みを 0 に向けて引き続けるため、両方を有効にすると"
                "重みは両者の間の点に引かれる（train.weight_decay: 0 にすれば L2-SP だけになる）。"
            ),
        },
        baseline_note={
            "en": "Off in the baseline (0.0): only AdamW's decay toward zero (0.01) acts on the weights.",
            "ja": "基準設定では使っていない（0.0）。重みに働くのは AdamW の 0 への減衰（0.01）だけである。",
        },
        sources=(LI_2018,),
    ),
    "r_drop": Countermeasure(
        key="r_drop",
        name={"en": "R-Drop (consistency between two dropout passes)",
              "ja": "R-Drop(二つのドロップアウトの出力の一致)"},
        params=("train.r_drop",),
        what={
            "en": (
                "Runs each training batch through the model twice, with different dropout masks, and trains "
                "on the mean of the two passes' losses plus train.r_drop × the symmetric Kullback-Leibler "
                "divergence between their predicted distributions (the mean of its two directions; 0 turns "
                "it off; studies/overfitting.yaml tries train.r_drop: 1.0). Evaluation is unchanged. Liang "
                "et al. (2021) introduce R-Drop to make the sub-models that dropout samples agree with each "
                "other, and report gains on translation, summarisation, language understanding (GLUE "
                "fine-tuning), language modelling and image classification; their code weights the KL term "
                "against the passes' cross-entropy as here (whether that is summed or averaged over the two "
                "passes differs between its versions, which only rescales alpha). That it reduces "
                "overfitting on this corpus is a possibility. Each step costs about twice as much (the batch "
                "runs twice, forward and backward); the study's time estimate counts it."
            ),
            "ja": (
                "各学習バッチを、異なるドロップアウトのマスクで二回モデルに通し、二回の損失の平均に、二つの"
                "予測分布の間の対称な Kullback-Leibler ダイバージェンス（二方向の平均）の train.r_drop 倍を"
                "加えて学習する（0 で無効。studies/overfitting.yaml では train.r_drop: 1.0 を試す）。評価は"
                "変わらない。Liang ら（2021）は、ドロップアウトが抜き出す部分モデル同士の出力を一致させるた"
                "めに"
                " R-Drop を導入し、翻訳、要約、言語理解（GLUE のファインチューニング）、言語モデル、画像分"
                "類で"
                "の改善を報告している。その公開コードも KL の項を各回の交差エントロピーに対してここと同じよ"
                "うに"
                "重み付けしている（二回分を足すか平均するかは版によって違い、alpha の尺度が変わるだけである"
                "）。"
                "このコーパスで過学習を減らすかどうかは可能性にとどまる。1ステップの計算量はおよそ2倍になる"
                "（バッチを順伝播と逆伝播で二回通す）。実験計画の所要時間の見積もりはそれを数える。"
            ),
        },
        baseline_note={
            "en": "Off in the baseline (0.0): one pass per batch, dropout 0.1.",
            "ja": "基準設定では使っていない（0.0）。バッチごとに一回通し、ドロップアウトは 0.1。",
        },
        sources=(LIANG_2021,),
    ),
    "average_checkpoints": Countermeasure(
        key="average_checkpoints",
        name={"en": "Weight averaging (last epochs)", "ja": "重みの平均(最後のエポック)"},
        params=("train.average_checkpoints",),
        what={
            "en": (
                "Keeps the weights at the end of each of the last k epochs (train.average_checkpoints; 0 "
                "turns it off; studies/overfitting.yaml tries train.average_checkpoints: 3) and, after "
                "training, evaluates their average on dev like one more epoch. The average is kept if its "
                "dev macro-F1 is at least that of the best epoch (which the baseline keeps); otherwise the "
                "best epoch is kept, as without this knob. The learning curves still show the epochs; the "
                "report's table of what each knob did gives the average's dev macro-F1 and whether it was "
                "kept, and the kept epoch is then the last epoch averaged. Izmailov et al. (2018) average "
                "the weights along the trajectory of stochastic gradient descent with a cyclical or "
                "constant learning rate and find wider optima and better generalisation on image "
                "classification (CIFAR, ImageNet): their evidence is on image networks, and averaging the "
                "last epochs of this project's decaying schedule is a simpler variant. That an average of "
                "nearby weights generalises better here is a possibility."
            ),
            "ja": (
                "最後の k エポック（train.average_checkpoints。0 で無効。studies/overfitting.yaml では "
                "train.average_checkpoints: 3 を試す）の各エポック終了時の重みを保存し、学習の後にその平均を"
                "もう一つのエポックのように dev で評価する。平均の dev macro-F1 が最良のエポック（基準設定"
                "が残す"
                "もの）以上なら平均を残し、そうでなければこのノブがないときと同じく最良のエポックを残す。"
                "学習曲線は各エポックのままで、レポートの「対策が実際に何をしたか」の表に平均の dev macro-F"
                "1 と"
                "残したかどうかを載せ、残した場合の採用エポックは平均した最後のエポックとする。Izmailov ら"
                "（2018）は、周期的または一定の学習率での確率的勾配降下法の軌跡に沿って重みを平均し、画像分類"
                "（CIFAR、ImageNet）でより広い最適解とより良い汎化を得ている。根拠は画像のネットワークにつ"
                "いて"
                "のもので、この計画の減衰する学習率の最後のエポックを平均するのは、より単純な変形である。近い"
                "重みの平均がここでより良く汎化するかどうかは可能性にとどまる。"
            ),
        },
        baseline_note={
            "en": "Off in the baseline (0): the best dev epoch alone is kept.",
            "ja": "基準設定では使っていない（0）。dev で最良のエポックだけを残す。",
        },
        sources=(IZMAILOV_2018,),
    ),
    "lora": Countermeasure(
        key="lora",
        name={"en": "LoRA (low-rank adapters)", "ja": "LoRA(低ランクのアダプタ)"},
        params=("train.lora_rank",),
        what={
            "en": (
                "Freezes the pre-trained weights and trains, through the peft library, low-rank matrices "
                "of rank r (train.lora_rank; 0 turns it off; studies/overfitting.yaml tries "
                "train.lora_rank: 8) added to the attention's query and value projections, plus the "
                "classification head in full; the adapters are merged into the weights when the model is "
                "saved, so pipeline() and the predict command load a plain model. Hu et al. (2022) propose "
                "LoRA for efficiency: far fewer trainable parameters and no added latency at inference once "
                "merged; they adapt the query and value projections in most of their experiments. That "
                "training so few parameters reduces overfitting on a small corpus is a possibility the "
                "paper does not test; with too small a rank the model may underfit."
            ),
            "ja": (
                "事前学習の重みを固定し、peft ライブラリを通じて、アテンションのクエリと値の射影に加えるラ"
                "ンク r"
                "（train.lora_rank。0 で無効。studies/overfitting.yaml では train.lora_rank: 8 を試す）の低"
                "ランク"
                "行列と、分類ヘッド全体だけを学習する。保存するときにアダプタを重みに統合するので、pipeline"
                "() と"
                "予測コマンドは普通のモデルとして読み込める。Hu ら（2022）は効率のために LoRA を提案した。"
                "学習"
                "するパラメータがはるかに少なく、統合すれば推論時の遅延も増えない。実験の多くではクエリと値の"
                "射影を適応させている。これほど少ないパラメータの学習が小さなコーパスで過学習を減らすかどう"
                "かは"
                "論文が検証していない可能性にとどまり、ランクが小さすぎると学習不足になりうる。"
            ),
        },
        baseline_note={
            "en": "Off in the baseline (0): every weight is fine-tuned.",
            "ja": "基準設定では使っていない（0）。すべての重みをファインチューニングする。",
        },
        sources=(HU_2022,),
    ),
}

VERIFICATION = """\
How each source was verified (search tool; corpus in brackets; what the matching record showed).

Prechelt 1998: [pages] "10.1007/3-540-49430-8_3 Early Stopping - But When?" -> link.springer.com
  chapter 10.1007/3-540-49430-8_3 and unpaywall.org/10.1007/3-540-49430-8_3: "Early Stopping - But When?",
  part of LNCS volume 1524; doi.org/10.1007/978-3-642-35289-8_5 (the LNCS 7700 reprint) says "Previously
  published in: Orr, G.B. and Müller, K.-R. (Eds.): LNCS 1524 ... (1998)"; studylib copy names Lutz Prechelt.
Dodge et al. 2020: [pages] title query -> schwartz-lab-huji.github.io, paperswithcode (15 Feb 2020, Jesse
  Dodge, Gabriel Ilharco, Roy Schwartz, Ali Farhadi, Hannaneh Hajishirzi, Noah Smith), bytez.com/docs/arxiv/
  2002.06305, tomesphere.com/paper/2002.06305. No peer-reviewed venue found, so cited as an arXiv preprint.
Zhang et al. 2021: [pages] title + authors -> readkong copy "Published as a conference paper at ICLR 2021
  ... Tianyi Zhang, Felix Wu, Arzoo Katiyar, Kilian Q. Weinberger, Yoav Artzi ... arXiv:2006.05987v3";
  arxiv-vanity.com/papers/2006.05987 (re-initialising top layers; too short training schedules).
Loshchilov & Hutter 2019: [docs] arXiv 1711.05101 query -> Hugging Face dataset file
  abstract/1711.05101v3.txt holding its abstract, and TensorFlow docs citing Loshchilov & Hutter,
  arxiv.org/pdf/1711.05101; [code] BibTeX query -> paper text "Published as a conference paper at ICLR 2019
  / Decoupled Weight Decay Regularization / Ilya Loshchilov & Frank Hutter".
Krogh & Hertz 1992: [pages] title query -> papers.nips.cc/paper/1991/hash/8eefcfdf5990e441f0fb6f3fad709e21-
  Abstract.html: "Part of Advances in Neural Information Processing Systems 4 (NIPS 1991)", Anders Krogh,
  John Hertz; citeseer reference "pages 950-957, San Mateo, 1992. Morgan Kaufmann"; mlanthology BibTeX
  pages 950-957. No DOI or arXiv id found, so the NeurIPS proceedings page is given.
Srivastava et al. 2014: [pages] docslib copy "Journal of Machine Learning Research 15 (2014) 1929-1958",
  authors Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov; [find_string] "JMLR:v15:srivastava14a"
  -> JMLR BibTeX with volume 15, number 56, pages 1929--1958, url jmlr.org/papers/v15/srivastava14a.html.
  No DOI or arXiv id found for this paper (JMLR does not issue DOIs), so the JMLR page is given.
Szegedy et al. 2016: [pages] -> openaccess.thecvf.com CVPR 2016 page (Szegedy, Vanhoucke, Ioffe, Shlens,
  Wojna; pp. 2818-2826) and arxiv-vanity.com/papers/1512.00567 with the same title.
Müller et al. 2019: [pages] -> papers.nips.cc 2019 page "Part of Advances in Neural Information Processing
  Systems 32 (NeurIPS 2019)", Rafael Müller, Simon Kornblith, Geoffrey E. Hinton; a page linking
  arxiv.org/abs/1906.02629 "When Does Label Smoothing Help?".
Lee et al. 2019: [pages] -> arxiv.org/abs/1911.03090: "What Would Elsa Do? Freezing Layers During
  Transformer Fine-Tuning", Jaejun Lee, Raphael Tang, Jimmy Lin, submitted 8 Nov 2019; no venue found.
Howard & Ruder 2018: [pages] -> aclanthology.org/P18-1031: ACL 2018 (56th Annual Meeting, Long Papers),
  pp. 328-339, DOI 10.18653/v1/P18-1031; slogix/scholarfeed give arXiv:1801.06146. Discriminative
  fine-tuning and gradual unfreezing confirmed on paperswithcode method pages.
Sun et al. 2019: [pages] -> studylib copy "How to Fine-Tune BERT for Text Classification? Chi Sun, Xipeng
  Qiu, Yige Xu, Xuanjing Huang ... arXiv:1905.05583v3"; xuanjing-huang.github.io: "CCL 2019: 194-206";
  layer-wise decreasing learning rate (decay 0.95) in notes at sigmeta.github.io.
Peterson et al. 2019: [pages] -> gfx.cs.princeton.edu: ICCV 2019 (Joshua Peterson, Ruairidh Battleday,
  Thomas L. Griffiths, Olga Russakovsky); tomesphere.com/paper/1908.07086 same title; [find_string]
  BibTeX entries give DOI 10.1109/ICCV.2019.00971 (arXiv id used per the project's preference).
Uma et al. 2021: [pages] -> JAIR PDF header "Journal of Artificial Intelligence Research 72 (2021)
  1385-1470", six authors; jair.org article 12752; [find_string] "jair.1.12752" -> several references
  "72, 1385-1470. https://doi.org/10.1613/jair.1.12752".
Fornaciari et al. 2021: [pages] -> ACL Anthology 2021.naacl-main.204: NAACL-HLT 2021, pp. 2591-2597,
  DOI 10.18653/v1/2021.naacl-main.204, authors Fornaciari, Uma, Paun, Plank, Hovy, Poesio.
King & Zeng 2001: [pages] -> Harvard DASH copy "Political Analysis 9(2): 137-163"; Cambridge Core page
  reached via doi=10.1093/oxfordjournals.pan.a004868; [find_string] references with the same DOI;
  [docs] scikit-learn compute_class_weight: "balanced" = n_samples / (n_classes * np.bincount(y)),
  "inspired by Logistic Regression in Rare Events Data, King, Zen, 2001".
Cui et al. 2019: [pages] -> ar5iv.labs.arxiv.org/html/1901.05555 (Yin Cui, Menglin Jia, Tsung-Yi Lin,
  Yang Song, Serge Belongie); mlanthology CVPR 2019 entry, DOI 10.1109/CVPR.2019.00949.
Northcutt et al. 2021: [pages] -> dspace.mit.edu record (Northcutt, Jiang, Chuang; DOI 10.1613/JAIR.1.12125)
  and arxiv.org/abs/1911.00068v5; [find_string] "jair.1.12125" -> BibTeX volume 70, pages 1373--1411.

What the texts claim from each source (checked again with the search tool for the exactness review):
  Uma et al. 2021: jair.org article 12752 abstract: with many judgments by high-quality coders per item,
    soft labels alone beat aggregated or even gold labels (hard and soft evaluation); otherwise gold and
    soft together were generally best in the hard evaluation.
  Peterson et al. 2019: ar5iv 1908.07086 abstract: CIFAR10H (human label distributions for the CIFAR10
    test images); better generalisation to increasingly out-of-distribution test sets, robustness to
    adversarial attacks.
  Fornaciari et al. 2021: ACL Anthology 2021.naacl-main.204 abstract: soft labels as an auxiliary task in
    a multi-task network, mitigating overfitting; the authors' repository fornaciari/soft-labels README:
    part-of-speech tagging and stemming experiments.
  Northcutt et al. 2021: abstract: estimates the joint distribution of noisy and true labels; pruning by
    class or by noise rate from the confident joint (cleanlab's filter docstring).
  Srivastava et al. 2014: jmlr.org v15 srivastava14a: training samples thinned networks; at test time a
    single unthinned network with smaller weights approximates averaging their predictions.
  Krogh & Hertz 1992: papers.nips.cc abstract: proven for a linear network (irrelevant weight
    components suppressed; part of the effect of static noise on the targets), then extended to networks
    with hidden layers and non-linear units.
  BERT's dropout placement: transformers' modeling_bert.py (the installed 5.x): hidden_dropout_prob in
    BertEmbeddings, BertSelfOutput and BertOutput (before the residual LayerNorm),
    attention_probs_dropout_prob on the attention probabilities, classifier_dropout (else
    hidden_dropout_prob) on the pooled output.

Mosbach et al. 2021 (fewer_epochs): openreview.net forum nzpLWnVAyah ("ICLR 2021 Poster"); [pages]
  deepai.org and paperswithcode abstracts: instability caused by optimisation difficulties that lead to
  vanishing gradients, not catastrophic forgetting or small data sets; the uds-lsv/bert-stable-fine-tuning
  configurations: AdamW with bias correction, 20 epochs.
Li et al. 2018 (l2_sp): arxiv.org/abs/1802.01483v2 (Xuhong Li, Yves Grandvalet, Franck Davoine); ICML 2018
  per citegraph; abstract: an L2 penalty with the pre-trained model as the reference, for fine-tuning
  convolutional networks (image classification).
Liang et al. 2021 (r_drop): ar5iv 2106.14448 and the Microsoft Research page (nine authors as cited),
  NeurIPS 2021; two passes with different dropout sub-models, bidirectional KL between their outputs;
  the dropreg/R-Drop code: kl = (p_loss + q_loss) / 2, loss = ce + alpha * kl (the ce of one pass or the
  mean of two, by version); tasks: translation, summarisation, GLUE, language modelling, ViT.
Izmailov et al. 2018 (average_checkpoints): bayesgroup.ru publication page (UAI 2018), arXiv 1803.05407
  abstract: averaging points along the SGD trajectory with a cyclical or constant learning rate; CIFAR-10,
  CIFAR-100 and ImageNet results; no language-model experiment found.
Hu et al. 2022 (lora): openreview.net nZeVKeeFYf9 (ICLR 2022), arXiv 2106.09685, the microsoft/LoRA README:
  pre-trained weights frozen, trainable rank decomposition matrices, no added inference latency once
  merged, examples adapting the q and v projections.
"""
