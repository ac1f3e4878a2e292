"""The fusion network: one token per modality, self-attention with missing modalities masked.

Each modality's vector is projected to a token and tagged with a learned modality embedding; a
learned summary token attends over the present modality tokens only (key-padding mask), so a
message without a photo is classified from what it has rather than from a zero-filled photo. The
summary token's attention over modalities is returned as the explanation. ``concat`` mode is the
plain baseline: masked tokens concatenated into an MLP.
"""

from typing import List, Sequence, Tuple, Union

import torch
from torch import nn

# A sparse modality arrives as (indices, offsets, weights), the EmbeddingBag input format: the
# cost is per non-zero count, not per vocabulary entry, which makes char n-grams affordable.
SparseInput = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]
ModalityInput = Union[torch.Tensor, SparseInput]


class SparseProjection(nn.Module):
    """Linear projection of sparse counts (an EmbeddingBag with sparse gradients) to a token."""

    def __init__(self, width: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(width, hidden, mode="sum", sparse=True)
        nn.init.normal_(self.bag.weight, std=width ** -0.5)
        self.bias = nn.Parameter(torch.zeros(hidden))
        self.dropout = dropout
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.GELU())

    def forward(self, x: SparseInput) -> torch.Tensor:
        indices, offsets, weights = x
        if self.training and self.dropout > 0:
            weights = nn.functional.dropout(weights, self.dropout)
        return self.out(self.bag(indices, offsets, per_sample_weights=weights) + self.bias)


class FusionLayer(nn.Module):
    """Pre-norm Transformer encoder layer that also returns its attention weights."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden)
        self.attention = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(hidden)
        self.feed_forward = nn.Sequential(
            nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * hidden, hidden)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        normed = self.norm1(x)
        attended, weights = self.attention(
            normed, normed, normed, key_padding_mask=padding_mask, need_weights=True, average_attn_weights=True
        )
        x = x + self.dropout(attended)
        x = x + self.dropout(self.feed_forward(self.norm2(x)))
        return x, weights


class FusionNet(nn.Module):
    """Intent and sentiment from a variable set of modality vectors."""

    def __init__(
        self,
        input_widths: List[int],
        n_intents: int,
        n_sentiments: int,
        hidden: int = 256,
        layers: int = 1,
        heads: int = 4,
        dropout: float = 0.2,
        mode: str = "attention",
        sparse: Sequence[bool] = (),
    ) -> None:
        super().__init__()
        self.mode = mode
        sparse = list(sparse) or [False] * len(input_widths)
        self.projections = nn.ModuleList(
            SparseProjection(width, hidden, dropout)
            if is_sparse
            else nn.Sequential(nn.Dropout(dropout), nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU())
            for width, is_sparse in zip(input_widths, sparse)
        )
        n_modalities = len(input_widths)
        if mode == "attention":
            self.modality_embedding = nn.Parameter(torch.randn(n_modalities, hidden) * 0.02)
            self.summary_token = nn.Parameter(torch.randn(1, 1, hidden) * 0.02)
            self.layers = nn.ModuleList(FusionLayer(hidden, heads, dropout) for _ in range(layers))
            self.final_norm = nn.LayerNorm(hidden)
        else:
            self.mixer = nn.Sequential(
                nn.Linear(n_modalities * hidden, hidden), nn.GELU(), nn.Dropout(dropout), nn.LayerNorm(hidden)
            )
        self.intent_head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, n_intents))
        self.sentiment_head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, max(n_sentiments, 1)))

    def forward(
        self, inputs: List[ModalityInput], present: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns intent logits, sentiment logits and per-modality weights (rows sum to 1)."""
        tokens = torch.stack([proj(x) for proj, x in zip(self.projections, inputs)], dim=1)
        present_f = present.to(tokens.dtype)
        if self.mode == "attention":
            batch = tokens.shape[0]
            x = torch.cat([self.summary_token.expand(batch, -1, -1), tokens + self.modality_embedding], dim=1)
            padding = torch.cat([torch.zeros_like(present[:, :1]), ~present], dim=1)
            weights = present_f
            for layer in self.layers:
                x, attention = layer(x, padding)
                weights = attention[:, 0, 1:]
            summary = self.final_norm(x[:, 0])
            weights = weights * present_f
        else:
            masked = tokens * present_f.unsqueeze(-1)
            summary = self.mixer(masked.flatten(1))
            weights = masked.norm(dim=-1)
        weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-9)
        return self.intent_head(summary), self.sentiment_head(summary), weights
