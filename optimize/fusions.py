"""MPNet attention fusion: ONNX Runtime's BERT attention fusion, taught MPNet's relative
position bias.

MPNet's self-attention is BERT's plus one term: ``softmax(QK'/sqrt(d) + bias + mask) V``,
where ``bias`` is a (batch, heads, seq, seq) relative-position bias computed once per
forward pass and shared by every layer. ORT's :class:`FusionAttention` matches
``Softmax <- Add(mask) <- Div <- MatMul`` only, so on MPNet it fuses no attention at all.
ORT's ``MultiHeadAttention`` contrib op takes exactly this extra term as its
``attention_bias`` input (added to ``QK' * scale`` with the key padding mask, before the
softmax), so the rewrite is exact; the node is built by ORT's own
:meth:`FusionAttention.create_multihead_attention_node`.

``MultiHeadAttention`` rather than the packed ``Attention`` op: ORT's dynamic quantizer
turns ``Attention`` into ``QAttention``, which has no ``attention_bias`` input and silently
drops it (measured on all-mpnet-base-v2: mean cosine 0.60 to fp32). With
``MultiHeadAttention`` the Q/K/V projections stay plain ``MatMul`` nodes that every
quantizer handles, and the attention itself stays fp32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from onnx import ModelProto, NodeProto, helper
from onnxruntime.transformers.fusion_attention import FusionAttention
from onnxruntime.transformers.onnx_model_bert import BertOnnxModel

# (op types walking up from a node, which input of each to follow; None: any)
_QKV_PATH = (["Add", "MatMul", "Reshape", "Transpose", "MatMul"], [None, None, 0, 0, 0])
_V_PATH = (["Transpose", "Reshape", "Add", "MatMul"], [1, 0, 0, None])
_QK_PATH = (["Softmax", "Add", "Add", "Div", "MatMul"], [0, 0, None, 0, 0])
_Q_PATH = (["Transpose", "Reshape", "Add", "MatMul"], [0, 0, 0, None])
_K_PATH = (["Transpose", "Reshape", "Add", "MatMul"], [1, 0, 0, None])
_MASK_PATHS = [
    (["Mul", "Sub", "Cast", "Unsqueeze", "Unsqueeze"], [None, 0, 1, 0, 0]),
    (["Mul", "Sub", "Unsqueeze", "Unsqueeze"], [None, 0, 1, 0]),
]


@dataclass(frozen=True)
class _Match:
    """One MPNet self-attention subgraph, from its root input to its output Reshape."""

    root: str
    out: list[NodeProto]  # Reshape, Transpose, MatMul(probs, V)
    qk: list[NodeProto]  # Softmax, Add(mask), Add(position bias), Div, MatMul(Q, K')
    q: list[NodeProto]  # Transpose, Reshape, Add(bias), MatMul(weight)
    k: list[NodeProto]
    v: list[NodeProto]
    mask: list[NodeProto]  # Mul(filter value), Sub, [Cast], Unsqueeze, Unsqueeze(mask)

    @property
    def position_bias(self) -> str:
        add, div = self.qk[2], self.qk[3]
        return str(add.input[1] if add.input[0] == div.output[0] else add.input[0])


class FusionMPNetAttention(FusionAttention):  # type: ignore[misc]
    """``MultiHeadAttention`` nodes for MPNet, the position bias as ``attention_bias``."""

    def fuse(
        self,
        node: NodeProto,
        input_name_to_nodes: dict[str, list[NodeProto]],
        output_name_to_node: dict[str, NodeProto],
    ) -> None:
        match = self._match(node, output_name_to_node)
        if match is None:
            return
        _, filter_value = self.model.get_constant_input(match.mask[0])
        divisor = self.model.get_constant_value(match.qk[3].input[1])
        if filter_value is None or filter_value.size != 1 or filter_value.item() >= 0:
            return
        if divisor is None or divisor.size != 1:
            return
        num_heads, hidden_size = self.get_num_heads_and_hidden_size(match.q[1])
        if num_heads <= 0 or hidden_size <= 0:
            return
        attention = self.create_multihead_attention_node(
            q_matmul=match.q[-1],
            k_matmul=match.k[-1],
            v_matmul=match.v[-1],
            q_add=match.q[-2],
            k_add=match.k[-2],
            v_add=match.v[-2],
            num_heads=num_heads,
            hidden_size=hidden_size,
            output=match.out[0].output[0],
            key_padding_mask=self.attention_mask.process_mask(match.mask[-1].input[0]) or "",
            add_qk=match.position_bias,
        )
        if attention is None:
            return
        attrs = [helper.make_attribute("mask_filter_value", float(filter_value.item()))]
        # MultiHeadAttention's default scale is 1/sqrt(head size); MPNet divides by that
        scale = 1.0 / float(divisor.item())
        if not math.isclose(scale, 1.0 / math.sqrt(hidden_size // num_heads), rel_tol=1e-6):
            attrs.append(helper.make_attribute("scale", scale))
        attention.attribute.extend(attrs)
        self.nodes_to_add.append(attention)
        self.node_name_to_graph_name[attention.name] = self.this_graph_name
        # the Q/K/V projection MatMuls stay; their bias Adds move into the node
        self.nodes_to_remove.extend(match.out + match.qk + match.q[:-1] + match.k[:-1])
        self.nodes_to_remove.extend(match.v[:-1])
        self.prune_graph = True  # the mask nodes are shared by every layer

    def _match(self, node: NodeProto, output_name_to_node: dict[str, NodeProto]) -> _Match | None:
        model = self.model
        start = model.match_parent(node, "Add", 0) if node.op_type == "LayerNormalization" else node
        qkv = None if start is None else model.match_parent_path(start, *_QKV_PATH)
        if qkv is None:
            return None
        roots = [
            i
            for i in start.input
            if i != qkv[0].output[0]
            and (i in output_name_to_node or model.find_graph_input(i) is not None)
        ]
        if len(roots) != 1:
            return None
        qk = model.match_parent_path(qkv[-1], *_QK_PATH)
        v = model.match_parent_path(qkv[-1], *_V_PATH)
        q = None if qk is None else model.match_parent_path(qk[-1], *_Q_PATH)
        k = None if qk is None else model.match_parent_path(qk[-1], *_K_PATH)
        if qk is None or v is None or q is None or k is None:
            return None
        if not q[-1].input[0] == k[-1].input[0] == v[-1].input[0] == roots[0]:
            return None
        _, mask, _ = model.match_parent_paths(qk[1], _MASK_PATHS, output_name_to_node)
        if mask is None:
            return None
        return _Match(root=roots[0], out=qkv[2:], qk=qk, q=q, k=k, v=v, mask=mask)


class MPNetOnnxModel(BertOnnxModel):  # type: ignore[misc]
    """ORT's BERT optimizer (LayerNorm, SkipLayerNorm, Gelu, ... fusions) whose attention
    fusion matches MPNet's relative position bias."""

    def __init__(self, model: ModelProto, num_heads: int = 0, hidden_size: int = 0) -> None:
        super().__init__(model, num_heads, hidden_size)
        self.attention_fusion = FusionMPNetAttention(
            self, self.hidden_size, self.num_heads, self.attention_mask
        )


def encoder_model_class(model_type: str) -> Any:
    """The ORT optimizer class for one of optimize.source's architectures."""
    return MPNetOnnxModel if model_type == "mpnet" else BertOnnxModel
