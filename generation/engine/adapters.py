"""Persona LoRAs on an engine's pipeline (generation.engine.pipelines.Engine owns one PersonaAdapters).

Two ways to switch personas. Without hotswap each persona is its own named adapter, loaded once and switched with
set_adapters; at most PerfOptions.max_loaded_adapters stay loaded, least recently used out (an evicted persona
is loaded again on its next request, drawing the same bytes). With hotswap (compiled workers) there is one adapter
slot whose weights are overwritten in place, so the compiled graph never changes.
Callers hold the engine's lock.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import torch

from generation.engine.perf import PerfOptions
from generation.engine.specs import EngineError, LoraRef, file_sha256

logger = logging.getLogger(__name__)

HOTSWAP_SLOT = "persona"  # the one adapter name persona weights are swapped into when hotswap is on


class PersonaAdapters:
    def __init__(self, pipe, perf: PerfOptions):
        self.pipe = pipe
        self.perf = perf
        # Adapter name -> sha256 of the loaded file, least recently used first.
        self._adapters: OrderedDict[str, str] = OrderedDict()
        self._lora_hashes: dict[str, tuple[tuple[int, ...], str]] = {}  # resolved path -> (stat stamp, sha256)
        # Hotswap mode: which persona (adapter name, sha256) sits in the slot, and its per-layer base scalings.
        self._slot: tuple[str, str] | None = None
        self._slot_loaded = False
        self._slot_scalings: list[tuple[torch.nn.Module, float]] = []

    def release(self) -> None:
        """Forget the pipeline (the engine is closing): no reference keeps its weights alive."""
        self.pipe = None
        self._adapters.clear()
        self._slot_scalings = []

    def loaded(self) -> list[str]:
        """The personas loaded on the pipeline, least recently used first."""
        if self.perf.lora_hotswap:
            return [self._slot[0]] if self._slot else []
        return list(self._adapters)

    def checked_file(self, lora: LoraRef) -> tuple[Path, str]:
        """The LoRA file and its sha256, checked against the recorded one. Hashing an SDXL LoRA takes ~80 ms, more
        than a whole persona switch may: a file is hashed again only when its size, mtime or inode changed."""
        path = Path(lora.path)
        try:
            info = path.stat()
        except OSError:
            info = None
        if info is None or not path.is_file():
            raise EngineError(f"LoRA weights file {path} does not exist.")
        stamp = (info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)
        key = str(path.resolve())
        cached = self._lora_hashes.get(key)
        if cached is not None and cached[0] == stamp:
            actual = cached[1]
        else:
            actual = file_sha256(path)
            self._lora_hashes[key] = (stamp, actual)
        if lora.sha256 and actual != lora.sha256:
            raise EngineError(f"LoRA weights {path} do not match their recorded sha256 (file changed?).")
        return path, lora.sha256 or actual

    def activate(self, lora: LoraRef | None) -> None:
        """Make `lora` (None: the bare base model) what the next pipeline call draws with."""
        if self.perf.lora_hotswap:
            self._activate_hotswap(lora)
            return
        if lora is None:
            if self._adapters:
                self.pipe.disable_lora()
            return
        name = lora.adapter_name
        if self._adapters.get(name) not in (None, lora.sha256):
            # Same name, different file (a retrained version reusing the name): replace it.
            self._delete(name)
        if name in self._adapters:
            self._adapters.move_to_end(name)
        else:
            path, sha = self.checked_file(lora)
            self._evict(room_for=1)  # free the memory before loading the next one
            self.pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
            self._adapters[name] = sha
        self.pipe.enable_lora()
        self.pipe.set_adapters([name], adapter_weights=[float(lora.scale)])

    def _evict(self, *, room_for: int) -> None:
        limit = max(1, self.perf.max_loaded_adapters)
        while self._adapters and len(self._adapters) + room_for > limit:
            name = next(iter(self._adapters))
            logger.info("Unloading LoRA adapter %s (least recently used of %d)", name, limit)
            self._delete(name)

    def _delete(self, name: str) -> None:
        self.pipe.delete_adapters([name])
        del self._adapters[name]

    def _activate_hotswap(self, lora: LoraRef | None) -> None:
        """Copy the persona's weights into the single slot in place: the compiled graph never changes."""
        if lora is None:
            self._set_slot_scale(0.0)  # exactly the base model: the slot adds lora(x) * 0
            return
        # Without a recorded sha256 the file is hashed on every request (as the set_adapters path reloads it).
        if not lora.sha256 or self._slot != (lora.adapter_name, lora.sha256):
            path, sha = self.checked_file(lora)
            if self._slot != (lora.adapter_name, sha):
                self._check_hotswappable(path)
                self._slot = None  # unknown contents until the load succeeds
                try:
                    self.pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=HOTSWAP_SLOT,
                                                hotswap=self._slot_loaded)
                except (ValueError, RuntimeError, KeyError) as exc:
                    raise EngineError(
                        f"Could not swap LoRA {path.name} into the engine's adapter slot (with hotswap on, LoRAs "
                        f"must be UNet-only, target the same layers, and have rank <= GENERATION_MAX_LORA_RANK="
                        f"{self.perf.max_lora_rank}): {exc}"
                    ) from exc
                self._slot_loaded = True
                self._slot = (lora.adapter_name, sha)
                self._slot_scalings = [
                    (module, float(module.scaling[HOTSWAP_SLOT])) for module in self.pipe.unet.modules()
                    if isinstance(getattr(module, "scaling", None), dict) and HOTSWAP_SLOT in module.scaling
                ]
        self._set_slot_scale(float(lora.scale))

    def _check_hotswappable(self, path: Path) -> None:
        """Refuse, from the file header alone, what the slot cannot take. (peft would swap a larger-rank tensor in
        by rebinding its storage, which silently breaks the compiled graph, and hotswap has no text encoder.)"""
        from safetensors import safe_open

        problem = ""
        try:
            with safe_open(str(path), framework="pt") as fh:
                for key in fh.keys():  # noqa: SIM118 (safe_open is not a mapping)
                    if key.startswith(("text_encoder", "lora_te")):
                        problem = "it has text-encoder weights"
                        break
                    if ".lora_A." in key or ".lora.down." in key or ".lora_down." in key:
                        rank = fh.get_slice(key).get_shape()[0]
                        if rank > self.perf.max_lora_rank:
                            problem = f"its rank is {rank}"
                            break
        except (OSError, ValueError, RuntimeError) as exc:  # not a safetensors file: let the loader decide
            logger.debug("Could not read LoRA header of %s: %s", path, exc)
        if problem:
            raise EngineError(
                f"LoRA {path.name} cannot be swapped into the engine's adapter slot: {problem} (with hotswap on, "
                f"LoRAs must be UNet-only with rank <= GENERATION_MAX_LORA_RANK={self.perf.max_lora_rank})."
            )

    def _set_slot_scale(self, scale: float) -> None:
        # Fill the scaling tensors in place (set_adapters would replace them with floats: a recompile).
        for module, base in self._slot_scalings:
            current = module.scaling[HOTSWAP_SLOT]
            if isinstance(current, torch.Tensor):
                current.fill_(base * scale)
            else:
                module.scaling[HOTSWAP_SLOT] = base * scale

    def unload(self, adapter_name: str) -> None:
        if self.perf.lora_hotswap:
            # The slot stays (removing it would change the graph); it just no longer counts as that persona.
            if self._slot and self._slot[0] == adapter_name:
                self._slot = None
                self._set_slot_scale(0.0)
            return
        if adapter_name in self._adapters:
            self._delete(adapter_name)
