"""Runtime portfolio edits of a :class:`~paretobandit.router.BanditRouter`: register, reprice and remove
models, each published to routing as one new immutable :class:`~paretobandit.routing.RegistryView`."""

from __future__ import annotations

import json

from .errors import InvalidInputError
from .registry import validate_model_name
from .routing import CEILING_KEY, RegistryView, check_number

__all__ = ["RegistryEditsMixin"]


class RegistryEditsMixin:
    """Registry changes under the policy's write lock (mixed into the router)."""

    # ------------------------------------------------------------------ registry
    def _publish_view(self) -> None:
        """New registry snapshot (caller holds the policy lock)."""
        self._view = RegistryView(self._registry, self.config.output_tokens)

    def register_model(
        self, name, input_cost_per_m=None, output_cost_per_m=None, *, blended=None, **metadata
    ) -> None:
        """Add a cold arm (``A = λ₀I``, ``b = 0``, ``last_update = last_played = t``) at runtime.

        Parameters
        ----------
        name : str
        input_cost_per_m, output_cost_per_m : float
            $ per million tokens (both), or give ``blended`` alone.
        blended : float, optional
        **metadata
            JSON-able extras stored with the model (e.g. ``speed="fast"``). ``ceiling_cost_per_m``, if
            given, is the blended $/M the pacer's hard ceiling compares for this model (default: its
            price), for registries whose blended field disagrees with the input/output prices.

        Raises
        ------
        DuplicateModelError, ConfigError (no price), InvalidInputError (bad price or metadata)
        """
        try:
            json.dumps(metadata)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"metadata of {name!r} must be JSON-serialisable, got {metadata!r}"
            ) from None
        if CEILING_KEY in metadata:
            check_number(CEILING_KEY, metadata[CEILING_KEY], nonneg=True)
        policy = self._policy
        with policy.write_lock:
            spec = self._registry.spec_for(
                name,
                input_cost_per_m=input_cost_per_m,
                output_cost_per_m=output_cost_per_m,
                blended=blended,
                **metadata,
            )

            def commit():
                self._registry.set_spec(spec)
                self._pulls[name] = 0
                self._arm_uid[name] = self._next_uid
                self._next_uid += 1
                self._publish_view()

            policy.add_arm(on_commit=commit)

    def update_model_pricing(
        self, name, input_cost_per_m=None, output_cost_per_m=None, *, blended=None
    ) -> None:
        """Change a model's prices in place (the next decision sees the new c̃ and p_max)."""
        with self._policy.write_lock:
            validate_model_name(name)
            spec = self._registry.repriced(name, input_cost_per_m, output_cost_per_m, blended)
            with self._policy.lock:
                self._registry.set_spec(spec)
                self._publish_view()

    def remove_model(self, name) -> None:
        """Drop a model and all its state; removing the last model is a :class:`RegistryError`.

        Pending feedback for the removed model is rejected with :class:`UnknownModelError`.
        """
        policy = self._policy
        with policy.write_lock:
            validate_model_name(name)
            spec = self._registry.get(name)
            if len(self._registry) == 1:
                self._registry.remove(name)  # raises RegistryError
            i = self._view.index[spec.name]

            uid = self._arm_uid[name]

            def commit():
                self._registry.remove(name)
                del self._pulls[name]
                del self._arm_uid[name]
                self._publish_view()

            policy.remove_arm(i, on_commit=commit)
            retire = getattr(self._store, "retire_arm", None)
            if retire is not None:  # its pending contexts can never be applied: drop them (ids remembered)
                retire(uid, name)

    # ------------------------------------------------------------------ durable mode
