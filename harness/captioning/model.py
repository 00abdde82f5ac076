"""The NIC decoder (Vinyals et al. 2015) over a frozen image encoder's pooled features: the projected feature is
the LSTM's first input, then the words; greedy and beam-search decoding."""
from __future__ import annotations

import torch
from torch import nn


class NICDecoder(nn.Module):
    """Image feature -> linear + batch norm to the word-embedding size -> one-layer LSTM -> linear over words."""

    def __init__(self, feature_dim: int, vocab_size: int, embed_size: int, hidden_size: int) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Linear(feature_dim, embed_size), nn.BatchNorm1d(embed_size))
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, batch_first=True)
        self.classify = nn.Linear(hidden_size, vocab_size)

    def start(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The LSTM state after reading the image (NIC's step t = -1; its output is not used)."""
        _, state = self.lstm(self.project(features).unsqueeze(1))
        return state

    def forward(self, features: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits ``[B, T, V]`` of the word after each of ``tokens`` (``<start> w1 .. wn``)."""
        inputs = torch.cat([self.project(features).unsqueeze(1), self.embed(tokens)], dim=1)
        outputs, _ = self.lstm(inputs)
        return self.classify(outputs[:, 1:])

    def step(self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """Log-probabilities of the next word after ``tokens`` ``[N]``, and the new state."""
        output, state = self.lstm(self.embed(tokens).unsqueeze(1), state)
        return torch.log_softmax(self.classify(output.squeeze(1)), dim=-1), state


@torch.no_grad()
def greedy_decode(model: NICDecoder, features: torch.Tensor, start: int, end: int, max_length: int) -> list[list[int]]:
    """The most probable next word at each step, until ``end`` (not returned) or ``max_length`` words."""
    state = model.start(features)
    tokens = torch.full((features.shape[0],), start, dtype=torch.long, device=features.device)
    captions: list[list[int]] = [[] for _ in range(features.shape[0])]
    done = torch.zeros(features.shape[0], dtype=torch.bool, device=features.device)
    for _ in range(max_length):
        log_probs, state = model.step(tokens, state)
        tokens = log_probs.argmax(dim=-1)
        for i in torch.nonzero(~done & (tokens != end)).flatten().tolist():
            captions[i].append(int(tokens[i]))
        done |= tokens == end
        if bool(done.all()):
            break
    return captions


@torch.no_grad()
def beam_search(model: NICDecoder, features: torch.Tensor, start: int, end: int, max_length: int,
                beam_size: int) -> list[list[int]]:
    """Per image, the word sequence of highest total log-probability found by a beam of ``beam_size``.

    A hypothesis that emits ``end`` is finished (with the score including ``end``) and leaves the beam; the search
    of an image stops when its best finished score beats every live one (scores only fall) or after
    ``max_length`` words, when live hypotheses count as finished. Beam size 1 is greedy decoding."""
    batch, k = features.shape[0], beam_size
    h, c = model.start(features)
    state = (h.repeat_interleave(k, dim=1), c.repeat_interleave(k, dim=1))
    scores = torch.full((batch, k), float("-inf"), device=features.device)
    scores[:, 0] = 0.0  # one live hypothesis per image at first
    sequences = torch.zeros((batch, k, 0), dtype=torch.long, device=features.device)
    tokens = torch.full((batch * k,), start, dtype=torch.long, device=features.device)
    finished: list[tuple[float, list[int]]] = [(float("-inf"), []) for _ in range(batch)]
    for _ in range(max_length):
        log_probs, state = model.step(tokens, state)
        vocab = log_probs.shape[-1]
        candidates = (scores.unsqueeze(2) + log_probs.view(batch, k, vocab)).view(batch, k * vocab)
        scores, flat = candidates.topk(k, dim=1)
        parent, words = flat // vocab, flat % vocab
        sequences = torch.cat([sequences.gather(1, parent.unsqueeze(2).expand(-1, -1, sequences.shape[2])),
                               words.unsqueeze(2)], dim=2)
        rows = (torch.arange(batch, device=features.device).unsqueeze(1) * k + parent).flatten()
        state = (state[0][:, rows], state[1][:, rows])
        for b, j in torch.nonzero((words == end) & torch.isfinite(scores)).tolist():
            if scores[b, j] > finished[b][0]:
                finished[b] = (float(scores[b, j]), sequences[b, j, :-1].tolist())
        scores = scores.masked_fill(words == end, float("-inf"))
        tokens = words.flatten()
        best_live = scores.max(dim=1).values
        if all(finished[b][0] >= best_live[b] for b in range(batch)):
            break
    else:  # out of words: the live hypotheses end here
        for b in range(batch):
            j = int(scores[b].argmax())
            if scores[b, j] > finished[b][0]:
                finished[b] = (float(scores[b, j]), sequences[b, j].tolist())
    return [sequence for _, sequence in finished]
