"""Which names of a "missing names" list (PyTorch names real code uses, one section per
theme, each name in backticks followed by its number of use sites) rustorch now has.

    PYTHONPATH=python python3 scripts/api_coverage.py NAMES.md

``torch.X`` is looked up as ``rustorch.X``, ``torchvision.X`` as ``rustorch.vision.X`` and
``Tensor.X`` as ``rustorch.Tensor.X``; the compile/trace/export theme (jit, fx) is left out.
Prints the share of names and of use sites present, then the names still missing.
"""

import importlib
import re
import sys

import rustorch  # noqa: F401

EXCLUDED = ("Compile / trace",)


def resolve(name: str) -> bool:
    if name.startswith("torchvision"):
        path = "rustorch.vision" + name[len("torchvision"):]
    elif name.startswith("torch."):
        path = "rustorch" + name[len("torch"):]
    elif name.startswith("Tensor."):
        path = "rustorch.Tensor" + name[len("Tensor"):]
    else:
        path = name
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for p in parts[i:]:
            if p == "__dict__":
                return hasattr(obj, "__dict__")
            if not hasattr(obj, p):
                return False
            obj = getattr(obj, p)
        return True
    return False


def main() -> None:
    text = open(sys.argv[1]).read()
    have = total = have_sites = total_sites = 0
    missing = []
    for sec in text.split("\n## ")[1:]:
        title, body = sec.split("\n", 1)
        if title.startswith(EXCLUDED):
            continue
        for name, n in re.findall(r"`([^`]+)` (\d+)", body):
            total += 1
            total_sites += int(n)
            if resolve(name):
                have += 1
                have_sites += int(n)
            else:
                missing.append(f"{name} ({n}; {title.split(' (')[0]})")
    print(f"names present: {have}/{total} ({have / total:.1%}); "
          f"use sites: {have_sites}/{total_sites} ({have_sites / total_sites:.1%})")
    for m in missing:
        print("missing:", m)


if __name__ == "__main__":
    main()
