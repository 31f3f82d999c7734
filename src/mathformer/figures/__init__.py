"""The figures of the analyses (matplotlib), drawn from their tables: style (the one look, panels,
legends, saving), then one module per result: roughly_right, predictability, ood."""
