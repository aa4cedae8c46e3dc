"""The stage list pane: every stage with its state, elapsed time and progress or reason."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from rchain.present import STATUS_STYLE, ascii_text, detail_text, format_duration, status_symbol
from rchain.runs import RunView


class StageList(DataTable):
    """Renders a RunView; owns no I/O."""

    DEFAULT_CSS = """
    StageList { height: auto; max-height: 45%; }
    """

    def __init__(self, *, ascii_only: bool = False, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.ascii_only = ascii_only

    def on_mount(self) -> None:
        self.add_column("stage", key="stage")
        self.add_column("status", key="status")
        self.add_column("elapsed", key="elapsed")
        self.add_column("detail", key="detail")

    def show(self, view: RunView) -> None:
        wanted = [stage.id for stage in view.stages]
        present = [str(key.value) for key in self.rows]
        if present != wanted:
            self.clear()
            for stage_id in wanted:
                self.add_row(stage_id, "", "", "", key=stage_id)
        for stage in view.stages:
            style = STATUS_STYLE.get(stage.status, "")
            status = Text(f"{status_symbol(stage.status, ascii_only=self.ascii_only)} {stage.status}", style=style)
            self.update_cell(stage.id, "status", status, update_width=True)
            self.update_cell(stage.id, "elapsed", format_duration(stage.elapsed(view.at)), update_width=True)
            detail = detail_text(stage)
            self.update_cell(stage.id, "detail", ascii_text(detail) if self.ascii_only else detail, update_width=True)

    def select(self, stage_id: str) -> None:
        """Move the cursor to a stage's row (when it has one)."""
        try:
            self.move_cursor(row=self.get_row_index(stage_id))
        except Exception:  # noqa: BLE001 - a stage not (yet) in the table
            pass

    @property
    def selected_stage(self) -> str | None:
        if self.row_count == 0:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
