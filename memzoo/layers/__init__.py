"""Building blocks of the memory models; nothing here imports memzoo above it."""

from memzoo.layers.associative_slots import AssociativeSlots
from memzoo.layers.attention_pooling import AttentionPooling
from memzoo.layers.dropout import Dropout
from memzoo.layers.memory_backbone import MemoryBackbone
from memzoo.layers.memory_block import MemoryBlock
from memzoo.layers.memory_slots import MemorySlots
from memzoo.layers.ntm_cell import NTMCell
from memzoo.layers.rotary_embedding import apply_rotary_embedding
from memzoo.layers.stateful_lstm_stack import StatefulLSTMStack
from memzoo.layers.window_attention import WindowAttention
