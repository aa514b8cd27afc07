"""The explorer's English strings (the reference table: every other language has its keys).

The library's messages are worded here by code as ``msg_<code>``: their English templates are
``featviz_widgets.messages.ENGLISH``, so the English a widget shows is the English a plain-Python
user reads.
"""

from __future__ import annotations

from featviz_widgets.messages import ENGLISH

TABLE: dict[str, str] = {
    # -- controls --------------------------------------------------------------------------
    "layer": "Layer",
    "channel": "Channel",
    # the picture's hover tooltip (widgets/_picture.py): "channel 12 · mean 0.31 · max 2.1 · value 0.87"
    "tooltip_channel": "channel",
    "tooltip_mean": "mean",
    "tooltip_max": "max",
    "tooltip_value": "value",
    "tooltip_sum": "sum of channels",
    "grid_width": "Grid width",
    "page": "Page",
    "normalize": "Normalize",
    "colormap": "Colormap",
    "export_png": "Export PNG",
    "download": "download {name}",
    "list": "List",
    "sort": "Sort",
    "filter_conv": "convolutions",
    "filter_all": "all modules",
    "filter_nodes": "graph nodes",
    "order_index": "index",
    "order_strongest": "strongest first",
    "tip_conv": "convolution outputs only",
    "tip_all": "every module call",
    "tip_nodes": "torch.fx nodes, e.g. layer1.0.add",
    "tip_index": "channel index order",
    "tip_strongest": "highest mean activation first",
    # frame controls of video layers ([C, T, H, W] outputs)
    "frame": "Frame",
    "time": "Time",
    "time_frame": "one frame",
    "time_mean": "mean",
    "time_sum": "sum",
    "time_frame_tip": "the frame the slider picks",
    "time_mean_tip": "mean over time",
    "time_sum_tip": "sum over time",
    # captions of video layers and 3-D kernels (widgets/_frames.py, tabs)
    "time_step": "time step {step} of {steps} (clip frames {first}-{last} of {frames})",
    "time_mean_of": "mean over {steps} time steps",
    "time_sum_of": "sum over {steps} time steps",
    "overlay_frame": "on clip frame {frame} of {frames}",
    "kernels_time": "{kt} time slices per kernel side by side (t = 1..{kt}), each scaled on its own",
    "kernels_time_rows": "each output: {kt} rows (time slices t = 1..{kt}) of {inputs} input slices",
    "kernels_temporal": "temporal kernels ({kt}x1x1) drawn as rows of {kt}",
    "max_clip": "a clip of {frames} frames, left to right",
    "layers_click_tip": "click a row to show that layer",
    "err_frame": "frame must be an int in [0, {frames}) for {layer} ({frames} frames), got {value!r}",
    "err_frame_flat": (
        "frame must be 0 for {layer}: it has no time axis (only video layers, [C, T, H, W] "
        "outputs, have frames), got {value!r}"
    ),
    "layers_total": "{layers} layers · {params:,} parameters",
    "norm_channel": "channel",
    "norm_layer": "layer",
    "norm_meanstd": "meanstd",
    "norm_percentile": "percentile",
    "norm_signed": "signed",
    "option_grid": "all channels (grid)",
    "option_sum": "sum of channels",
    "option_mean": "{channel}  mean {value:.3g}",
    "option_value": "{channel}  value {value:.3g}",
    # -- tab titles (what the user reads; code names tabs by Tab.title, in English) --------
    "tab_maps": "Feature maps",
    "tab_overlay": "Overlay",
    "tab_kernels": "Kernels",
    "tab_maximize": "Maximize",
    "tab_examples": "Examples",
    "tab_predictions": "Predictions",
    "tab_layers": "Layers",
    "tab_attribution": "Attribution",
    # -- captions: statistics and layouts --------------------------------------------------
    "summary": "min {low:.3g} · max {high:.3g} · mean {mean:.3g} · {zeros:.1f}% zeros",
    "no_finite": "no finite values",
    "nothing_to_summarize": "nothing to summarize",
    "note_channels_last": "channels-last layout",
    "note_tokens": "tokens as a grid",
    "note_windows": "attention windows re-assembled",
    "note_grid_windows": "grid-attention windows re-assembled",
    "note_image": "shown as one map",
    "note_folded": "leading axes folded into channels",
    "note_class_token": " (class token set aside)",
    "note_class_tokens": " (class token and {extra} more tokens set aside)",
    "note_video": "mean over time",
    "note_empty": "no channels to show (scalar or empty output)",
    "graph_node": "graph node",
    "class_index": "class {index}",
    # -- Feature maps ----------------------------------------------------------------------
    "maps_span": "channels {start}-{end} of {total}",
    "maps_strongest": ", strongest first",
    "maps_sum": "sum of {channels} channels",
    "maps_channel": "channel {channel} ({shape})",
    "one_value": "1 value",
    "with_note": "{what} ({note})",
    # -- Kernels ---------------------------------------------------------------------------
    "kernels_none": "{layer} ({kind}) has no weights to show.",
    "kernels_output": "output {channel}: {inputs} inputs",
    "kernels_rows": "rows {start}-{end} of {total} (outputs) x inputs",
    "kernels_mean": ", each pixel the mean of {step}x{step} weights",
    "kernels_span": "kernels {start}-{end} of {total}",
    "kernels_rgb": " as RGB tiles",
    "kernels_caption": "{layer} weight {shape} · {what} · {summary}",
    # -- Overlay ---------------------------------------------------------------------------
    "opacity": "Opacity",
    "overlay_flat": (
        "{layer} ({shape}) has no spatial map to lay over the photo; "
        "pick a convolution or another layer with a height and width."
    ),
    "overlay_sum": "sum of channels",
    "overlay_channel": "channel {channel}",
    "overlay_strongest": "channel {channel} (strongest)",
    "overlay_caption": "{layer} · {what} over the photo · opacity {alpha:.2f}",
    "overlay_top": "top {count} channels by mean activation: {ranked}",
    # -- Predictions and Layers ------------------------------------------------------------
    "col_class": "class",
    "col_probability": "probability",
    "col_index": "index",
    "not_class_vector": "The model's output ({what}) is not a class-score vector.",
    "output_shape": "shape {shape}",
    "no_class_names": "no class names: pass weights= or labels=",
    "col_score": "score",
    "col_box": "box (x1, y1, x2, y2)",
    "col_pixels": "pixels",
    "det_top": "the {count} best of {total} boxes (score at least {threshold}), best on top",
    "det_low": (
        "no box scores {threshold} or more (untrained weights?): the {count} best of {total} "
        "boxes, whatever their score"
    ),
    "det_none": "the model found no boxes in this image",
    "det_masks": "each box's mask (probability over {threshold}) filled in its colour",
    "det_with": "{caption}; {note}",
    "det_keypoints": "each box's {count} keypoints as dots",
    "det_skeleton": "each box's {count} keypoints as dots joined by the person skeleton",
    "seg_caption": (
        "the most likely of {classes} classes at every pixel, over the photo ({present} present)"
    ),
    "col_layer": "layer",
    "col_type": "type",
    "col_output": "output",
    "col_params": "params",
    "not_captured": "not captured (layers=)",
    "did_not_run": "did not run",
    # -- Maximize --------------------------------------------------------------------------
    "mode_channel": "this channel",
    "mode_first": "first N channels",
    "mode_class": "a class",
    "count": "N",
    "class": "Class",
    "steps": "Steps",
    "size": "Size",
    "preset": "Preset",
    "seed": "Seed",
    "run": "Run",
    "cancel": "Cancel",
    "progress": "Progress",
    "job_class": "class {index} (model output)",
    "job_channel": "{layer} channel {channel}",
    "job_channels": "{layer} channels {first}-{last}",
    "job_strongest": " (strongest on this image)",
    "job_describe": "{what} · {steps} steps · {size}px · {preset} · seed {seed}",
    "max_cached": "cached: {what}",
    "max_press_run": "press Run to maximize {what}",
    "max_running": "running: {what}",
    "max_step": "step {step}/{steps} · objective {value:.4g}",
    "max_cancelled": "cancelled after {steps} steps: {what}",
    "max_done": "done: {what} · objective {value:.4g}",
    "max_failed": "maximize failed: {error}",
    "max_no_class": "the model's output is not a class vector: no class to maximize",
    "max_not_module": (
        "{layer} is not a module output (a graph node or a repeated call); "
        "maximize works on module names such as those under 'convolutions'"
    ),
    "max_no_maps": (
        "{layer} ({shape}) has no feature maps to maximize; "
        "pick a convolution-like layer or a class of the output"
    ),
    "max_fixed_size": (
        "this model takes {height}x{width} images only: each picture is resized to that size "
        "before the model sees it"
    ),
    "max_rejected": "this model does not accept {size}x{size} images ({why})",
    "max_rejected_now": (
        "this model does not accept {size}x{size} images ({why}); Size now offers {native}px, "
        "the explorer's image size"
    ),
    # -- Examples --------------------------------------------------------------------------
    "rank": "Rank",
    "scope": "Layers",
    "rank_mean": "by mean",
    "rank_max": "by max",
    "stat_mean": "mean",
    "stat_max": "max",
    "scope_layer": "this layer",
    "scope_listed": "all listed layers",
    "top_k": "Top k",
    "find_examples": "Find examples",
    "images": "Images",
    "ex_press": "press Find examples to rank the {count} images of the dataset for {layer}",
    "ex_mismatch": (
        "the saved examples of {layer} have {saved} channels, the layer shows {shown}: "
        "press Find examples again"
    ),
    "ex_skipped": ", {count} skipped",
    "ex_partial": "partial: {scored} of {total} images ranked{skipped} (Find examples resumes)",
    "ex_done": "{scored} images ranked{skipped}; layers: {layers}",
    "ex_layers": "{count} layers",
    "ex_running": "running: {count} images through {what}",
    "ex_rate": "{done} images · {rate:.0f} images/s",
    "ex_rate_total": "{done} of {total} images · {rate:.0f} images/s",
    "ex_elapsed": "{what} · {seconds:.1f} s",
    "ex_failed": "examples failed: {error}",
    "ex_none_ranked": "no image was ranked (every image failed to load)",
    "ex_channel": (
        "{layer} channel {channel} · top {count} of {scored} images by {by}, "
        "the channel's map over each: {named}"
    ),
    "ex_crops": (
        "receptive field ({height}x{width} px, outlined when shown with context) around "
        "each image's strongest spot, by max: {named}"
    ),
    "ex_grid": (
        "{layer} · the best image of each channel (by max) around its strongest spot, "
        "receptive field {height}x{width} px · channels {start}-{end} of {total}{order}"
    ),
    # -- the Attribution tab ---------------------------------------------------------------
    "attr_class": "Class",
    "attr_method": "Method",
    "attr_layer": "Layer",
    "attr_auto": "auto",
    "attr_run": "Explain",
    "attr_progress": "Progress",
    "attr_top_option": "{name} · {prob:.1%}",
    "attr_option": "{index}: {name}",
    "attr_failed": "attribution failed: {error}",
    "attr_no_classes": (
        "the model's output is not a class-score vector: there is no class to explain here "
        "(featviz_widgets.attribute explains a channel with target=(layer, channel))"
    ),
    "attr_clip": "attribution explains single images; this explorer shows a clip",
    "attr_running": "running {method} for {name}…",
    "attr_press": "{method} takes a while: press Explain to explain {name}",
    "attr_pixels": "input pixels",
    "attr_auto_layer": "{layer} (auto)",
    "attr_caption": "{name} (#{index}) · score {score:.3g} · {method} · {layer}",
    "attr_no_channels": (
        "{method} explains the input pixels: a layer method (the first five in the list) "
        "shows the channels behind the decision"
    ),
    "attr_no_strip": "the explorer shows {layer} in another layout: no channel strip",
    "attr_strip": (
        "the channels behind the decision at {layer} (top {count} by contribution; click one "
        "to open it): {ranked}"
    ),
    "attr_cancelled": "{method} cancelled",
    "attr_done": "{method} done in {seconds:.1f} s",
    "pred_click_tip": "click to explain this class (Attribution tab)",
    # -- errors ----------------------------------------------------------------------------
    "error": "{kind}: {detail}",
    "error_layer": "{kind}: {detail}",
    "error_image": "{kind}: {detail}",
    "job_maximize": "Maximize",
    "job_examples": "Examples",
    "job_attribution": "Attribution",
    "err_no_classes": (
        "target_class needs a model whose output is a class-score vector; this one's is not, "
        "so only None is accepted, got {value!r}"
    ),
    "err_target_class": (
        "target_class must be None (the top class), a class name or an int in [0, {classes}), "
        "got {value!r}.{hint}"
    ),
    "err_no_layers": "no layers to list under {kind!r}",
    "err_no_picture": "{layer} has no picture to save",
    "err_no_tab": "no tab named {name!r}; choose one of {choices}.{hint}",
    "err_bounded": "{name} must be an int in [{low}, {high}], got {value!r}",
    "err_channel": (
        "channel must be None (grid), 'sum' or an int in [0, {channels}) for {layer}, "
        "got {value!r}"
    ),
    "err_choice": "unknown {name} {value!r}; choose one of {choices}.{hint}",
    "err_unknown_layer": "unknown layer {name!r}.{hint} See ex.layers for every name.",
    "err_layer_type": "layer must be a string, got {kind}",
    "err_not_in_layers": "layer {name!r} is not in layers= given to the explorer",
    "err_never_ran": "layer {name!r} ({kind}) never ran in the forward on this image",
    "err_dataset": "dataset=: {error}",
    "err_dataset_empty": "dataset=: no images in it",
    # -- the library's messages, by code (featviz_widgets.messages) -------------------------
    **{f"msg_{code}": template for code, template in ENGLISH.items()},
}
