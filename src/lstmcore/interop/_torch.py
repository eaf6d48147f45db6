"""``torch.nn.LSTM`` modules to and from lstmcore. lstmcore keeps PyTorch's names, shapes and gate
order, so the parameters move as they are; torch is imported only when these functions run."""
import numpy as np

from ._common import build_model, model_config


def from_torch(module, dtype=None):
    """An :class:`lstmcore.LSTM` with the options and weights of a ``torch.nn.LSTM``.

    Every option carries over: num_layers, bias, batch_first, dropout, bidirectional, proj_size.
    ``dtype`` None keeps float64 modules float64 and makes every other module float32.
    """
    import torch

    if not isinstance(module, torch.nn.LSTM):
        raise TypeError(f"module must be a torch.nn.LSTM, got {type(module).__name__}")
    if dtype is None:
        dtype = np.float64 if module.weight_ih_l0.dtype == torch.float64 else np.float32
    # Through float64 so that bfloat16/float16 modules convert too (numpy has no bfloat16).
    state = {name: p.detach().to("cpu", torch.float64).numpy()
             for name, p in module.state_dict().items()}
    config = {key: getattr(module, key) for key in
              ("input_size", "hidden_size", "num_layers", "bias", "bidirectional", "proj_size")}
    return build_model(config, state, batch_first=module.batch_first, dropout=module.dropout,
                       dtype=dtype)


def to_torch(model):
    """A ``torch.nn.LSTM`` with the options, dtype and weights of an :class:`lstmcore.LSTM`."""
    import torch

    config = model_config(model)
    dtype = torch.float64 if np.dtype(model.dtype) == np.float64 else torch.float32
    module = torch.nn.LSTM(**config, batch_first=model.batch_first,
                           dropout=model.dropout, dtype=dtype)
    module.load_state_dict({name: torch.from_numpy(np.ascontiguousarray(value))
                            for name, value in model.state_dict().items()})
    return module
