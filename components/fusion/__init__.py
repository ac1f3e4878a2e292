"""The multimodal fusion model: feature gathering, the torch network, training and persistence."""
