"""Every word the explorer shows, one table per language: ``text("zh", "layer")`` -> "层".

Labels, tooltips, captions, messages and widget errors are looked up here by key, never written
inline, so ``LayerExplorer(..., lang="zh")`` shows Simplified Chinese everywhere. A test checks that
every language has exactly the keys of English. Values are ``str.format`` templates.
"""

from __future__ import annotations

from collections.abc import Iterable

from featviz_widgets._text import did_you_mean
from featviz_widgets.engine import ModelBusy

LANGUAGES = ("en", "zh")

EN: dict[str, str] = {
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
    "input_unit_scale": "pixels scaled to [0, 1] (no preprocess=)",
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
    "max_moved": "{asked} sees too little of the picture; showing {layer}, pick a layer to override",
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
    # -- errors ----------------------------------------------------------------------------
    "error": "{kind}: {detail}",
    "error_layer": "{kind}: {detail}",
    "error_image": "{kind}: {detail}",
    "busy": "{job} is running: Cancel it or wait for it to finish, then try again",
    "job_maximize": "Maximize",
    "job_examples": "Examples",
    "job_other": "another featviz call",
    "hint": " Did you mean {names}?",
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
    "err_colormap": "unknown colormap {name!r}: {error}",
    "err_dataset": "dataset=: {error}",
    "err_dataset_empty": "dataset=: no images in it",
}

ZH: dict[str, str] = {
    # -- controls --------------------------------------------------------------------------
    "layer": "层",
    "channel": "通道",
    "tooltip_channel": "通道",
    "tooltip_mean": "均值",
    "tooltip_max": "最大值",
    "tooltip_value": "数值",
    "tooltip_sum": "通道之和",
    "grid_width": "网格宽度",
    "page": "页码",
    "normalize": "归一化",
    "colormap": "色图",
    "export_png": "导出 PNG",
    "download": "下载 {name}",
    "list": "列出",
    "sort": "排序",
    "filter_conv": "卷积层",
    "filter_all": "全部模块",
    "filter_nodes": "计算图节点",
    "order_index": "按序号",
    "order_strongest": "最强优先",
    "tip_conv": "只列出卷积层的输出",
    "tip_all": "每一次模块调用",
    "tip_nodes": "torch.fx 计算图节点，例如 layer1.0.add",
    "tip_index": "按通道序号排列",
    "tip_strongest": "平均激活最高的排在前面",
    # 视频层（[C, T, H, W] 输出）的帧控件
    "frame": "帧",
    "time": "时间",
    "time_frame": "单帧",
    "time_mean": "平均",
    "time_sum": "求和",
    "time_frame_tip": "滑块选中的那一帧",
    "time_mean_tip": "沿时间取平均",
    "time_sum_tip": "沿时间求和",
    "time_step": "时间步 {step}/{steps}（片段第 {first}-{last} 帧，共 {frames} 帧）",
    "time_mean_of": "{steps} 个时间步的平均",
    "time_sum_of": "{steps} 个时间步的总和",
    "overlay_frame": "叠加在片段第 {frame} 帧上（共 {frames} 帧）",
    "kernels_time": "每个卷积核的 {kt} 个时间切片并排显示（t = 1..{kt}），各自归一化",
    "kernels_time_rows": "每个输出占 {kt} 行（时间切片 t = 1..{kt}），每行 {inputs} 个输入切片",
    "kernels_temporal": "时间卷积核（{kt}x1x1）画成长度为 {kt} 的一行",
    "max_clip": "一段 {frames} 帧的片段，从左到右排列",
    "layers_click_tip": "点击一行即可显示该层",
    "err_frame": "frame 必须是 [0, {frames}) 内的整数（{layer}，共 {frames} 帧），收到的是 {value!r}",
    "err_frame_flat": (
        "{layer} 没有时间轴，frame 只能是 0（只有视频层，即 [C, T, H, W] 输出，才有帧），"
        "收到的是 {value!r}"
    ),
    "layers_total": "{layers} 层 · {params:,} 个参数",
    "norm_channel": "逐通道",
    "norm_layer": "整层",
    "norm_meanstd": "均值±标准差",
    "norm_percentile": "百分位",
    "norm_signed": "正负对称",
    "option_grid": "全部通道（网格）",
    "option_sum": "通道求和",
    "option_mean": "{channel}  均值 {value:.3g}",
    "option_value": "{channel}  值 {value:.3g}",
    # -- tab titles ------------------------------------------------------------------------
    "tab_maps": "特征图",
    "tab_overlay": "叠加图",
    "tab_kernels": "卷积核",
    "tab_maximize": "激活最大化",
    "tab_examples": "数据集样例",
    "tab_predictions": "预测",
    "tab_layers": "层列表",
    # -- captions: statistics and layouts --------------------------------------------------
    "summary": "最小值 {low:.3g} · 最大值 {high:.3g} · 均值 {mean:.3g} · 零值占 {zeros:.1f}%",
    "no_finite": "没有有限的数值",
    "nothing_to_summarize": "没有可统计的数值",
    "note_channels_last": "通道在最后一维",
    "note_tokens": "token 排成网格",
    "note_windows": "注意力窗口已拼回原图",
    "note_grid_windows": "网格注意力窗口已拼回原图",
    "note_image": "显示为一张图",
    "note_folded": "前面的维度并入通道",
    "note_class_token": "（已去掉类别 token）",
    "note_class_tokens": "（已去掉类别 token 和另外 {extra} 个 token）",
    "note_video": "时间维上的平均",
    "note_empty": "没有可显示的通道（标量或空输出）",
    "input_unit_scale": "像素缩放到 [0, 1]（未给 preprocess=）",
    "graph_node": "计算图节点",
    "class_index": "类别 {index}",
    # -- Feature maps ----------------------------------------------------------------------
    "maps_span": "通道 {start}-{end}（共 {total} 个）",
    "maps_strongest": "，最强优先",
    "maps_sum": "{channels} 个通道之和",
    "maps_channel": "通道 {channel}（{shape}）",
    "one_value": "1 个值",
    "with_note": "{what}（{note}）",
    # -- Kernels ---------------------------------------------------------------------------
    "kernels_none": "{layer}（{kind}）没有可显示的权重。",
    "kernels_output": "输出通道 {channel}：{inputs} 个输入",
    "kernels_rows": "第 {start}-{end} 行（共 {total} 行，每行一个输出）× 输入",
    "kernels_mean": "，每个像素是 {step}x{step} 个权重的平均",
    "kernels_span": "卷积核 {start}-{end}（共 {total} 个）",
    "kernels_rgb": "，以 RGB 彩色图块显示",
    "kernels_caption": "{layer} 权重 {shape} · {what} · {summary}",
    # -- Overlay ---------------------------------------------------------------------------
    "opacity": "不透明度",
    "overlay_flat": "{layer}（{shape}）没有空间特征图，无法叠加到照片上；请选择卷积层或其他有高和宽的层。",
    "overlay_sum": "通道求和",
    "overlay_channel": "通道 {channel}",
    "overlay_strongest": "通道 {channel}（最强）",
    "overlay_caption": "{layer} · {what}叠加在照片上 · 不透明度 {alpha:.2f}",
    "overlay_top": "平均激活最高的 {count} 个通道：{ranked}",
    # -- Predictions and Layers ------------------------------------------------------------
    "col_class": "类别",
    "col_probability": "概率",
    "col_index": "序号",
    "not_class_vector": "模型的输出（{what}）不是类别得分向量。",
    "output_shape": "形状 {shape}",
    "no_class_names": "没有类别名称：请传入 weights= 或 labels=",
    "col_score": "得分",
    "col_box": "框 (x1, y1, x2, y2)",
    "col_pixels": "像素占比",
    "det_top": "{total} 个框中得分不低于 {threshold} 的前 {count} 个，最好的画在最上层",
    "det_low": "没有得分达到 {threshold} 的框（权重未经训练？）：不论得分，显示 {total} 个框中最好的 {count} 个",
    "det_none": "模型在这张图像中没有找到任何框",
    "seg_caption": "每个像素上 {classes} 个类别中可能性最大的类别，叠加在照片上（出现了 {present} 个类别）",
    "col_layer": "层",
    "col_type": "类型",
    "col_output": "输出",
    "col_params": "参数量",
    "not_captured": "未捕获（不在 layers= 中）",
    "did_not_run": "未运行",
    # -- Maximize --------------------------------------------------------------------------
    "mode_channel": "当前通道",
    "mode_first": "前 N 个通道",
    "mode_class": "某个类别",
    "count": "通道数 N",
    "class": "类别",
    "steps": "迭代步数",
    "size": "图像尺寸",
    "preset": "预设",
    "seed": "随机种子",
    "run": "运行",
    "cancel": "取消",
    "progress": "进度",
    "job_class": "类别 {index}（模型输出）",
    "job_channel": "{layer} 通道 {channel}",
    "job_channels": "{layer} 通道 {first}-{last}",
    "job_strongest": "（在这张图上最强）",
    "job_describe": "{what} · {steps} 步 · {size}px · {preset} · 随机种子 {seed}",
    "max_cached": "已缓存：{what}",
    "max_press_run": "点击“运行”，对 {what} 做激活最大化",
    "max_running": "运行中：{what}",
    "max_step": "第 {step}/{steps} 步 · 目标值 {value:.4g}",
    "max_cancelled": "已在第 {steps} 步后取消：{what}",
    "max_done": "完成：{what} · 目标值 {value:.4g}",
    "max_failed": "激活最大化失败：{error}",
    "max_moved": "{asked} 的感受野只覆盖图像的一小部分，改为显示 {layer}；手动选择一个层即可改用该层",
    "max_no_class": "模型的输出不是类别向量：没有可以最大化的类别",
    "max_not_module": (
        "{layer} 不是模块的输出（而是计算图节点或重复调用）；"
        "激活最大化只适用于模块名，例如“卷积层”列表中的名称"
    ),
    "max_no_maps": "{layer}（{shape}）没有可以最大化的特征图；请选择类似卷积的层，或输出的某个类别",
    "max_fixed_size": "该模型只接受 {height}x{width} 的图像：每张图在送入模型前都会缩放到这个尺寸",
    "max_rejected": "该模型不接受 {size}x{size} 的图像（{why}）",
    "max_rejected_now": (
        "该模型不接受 {size}x{size} 的图像（{why}）；“图像尺寸”现在提供 {native}px，"
        "即 LayerExplorer 中这张图像的尺寸"
    ),
    # -- Examples --------------------------------------------------------------------------
    "rank": "排序依据",
    "scope": "层范围",
    "rank_mean": "按均值",
    "rank_max": "按最大值",
    "stat_mean": "均值",
    "stat_max": "最大值",
    "scope_layer": "当前层",
    "scope_listed": "列出的全部层",
    "top_k": "前 k 张",
    "find_examples": "查找样例",
    "images": "图像",
    "ex_press": "点击“查找样例”，按 {layer} 对数据集中的 {count} 张图像排序",
    "ex_mismatch": "{layer} 已保存的样例有 {saved} 个通道，而该层显示 {shown} 个：请再次点击“查找样例”",
    "ex_skipped": "，跳过 {count} 张",
    "ex_partial": "部分完成：{total} 张图像中已排序 {scored} 张{skipped}（再次点击“查找样例”会继续）",
    "ex_done": "已排序 {scored} 张图像{skipped}；层：{layers}",
    "ex_layers": "{count} 个层",
    "ex_running": "运行中：{count} 张图像经过 {what}",
    "ex_rate": "{done} 张图像 · 每秒 {rate:.0f} 张",
    "ex_rate_total": "{done}/{total} 张图像 · 每秒 {rate:.0f} 张",
    "ex_elapsed": "{what} · 用时 {seconds:.1f} 秒",
    "ex_failed": "查找样例失败：{error}",
    "ex_none_ranked": "没有任何图像参与排序（所有图像都加载失败）",
    "ex_channel": (
        "{layer} 通道 {channel} · {scored} 张图像中{by}排名前 {count} 的图像，"
        "每张上叠加该通道的特征图：{named}"
    ),
    "ex_crops": "每张图像最强位置周围的感受野（{height}x{width} px，带周边显示时用方框标出），按最大值：{named}",
    "ex_grid": (
        "{layer} · 每个通道按最大值最佳的图像，取其最强位置周围，感受野 {height}x{width} px · "
        "通道 {start}-{end}（共 {total} 个）{order}"
    ),
    # -- errors ----------------------------------------------------------------------------
    "error": "出错了：{kind}: {detail}",
    "error_layer": "无法读取该层：{kind}: {detail}",
    "error_image": "无法读取这张图像：{kind}: {detail}",
    "busy": "{job}正在运行：请先取消它，或等它结束后再试",
    "job_maximize": "激活最大化",
    "job_examples": "查找样例",
    "job_other": "另一个 featviz 调用",
    "hint": " 您是不是想输入 {names}？",
    "err_no_layers": "{kind!r} 下没有可以列出的层",
    "err_no_picture": "{layer} 没有可以保存的图片",
    "err_no_tab": "没有名为 {name!r} 的标签页；可选：{choices}。{hint}",
    "err_bounded": "{name} 必须是 [{low}, {high}] 内的整数，收到的是 {value!r}",
    "err_channel": "channel 必须是 None（网格）、'sum' 或 [0, {channels}) 内的整数（{layer}），收到的是 {value!r}",
    "err_choice": "未知的 {name}：{value!r}；可选：{choices}。{hint}",
    "err_unknown_layer": "未知的层 {name!r}。{hint} 所有名称见 ex.layers。",
    "err_layer_type": "layer 必须是字符串，收到的是 {kind}",
    "err_not_in_layers": "层 {name!r} 不在传给 LayerExplorer 的 layers= 中",
    "err_never_ran": "层 {name!r}（{kind}）在这张图像的前向传播中没有运行",
    "err_colormap": "未知的色图 {name!r}：{error}",
    "err_dataset": "无法读取 dataset=：{error}",
    "err_dataset_empty": "dataset= 中没有图像",
}

TABLES: dict[str, dict[str, str]] = {"en": EN, "zh": ZH}


def check_lang(lang: object) -> str:
    """``lang`` when it is a known language; ValueError naming the choices otherwise."""
    if not isinstance(lang, str) or lang not in TABLES:
        raise ValueError(f"lang={lang!r} is not supported; choose one of {LANGUAGES}")
    return lang  # type: ignore[return-value]


def text(lang: str, key: str, **values: object) -> str:
    """The string ``key`` in ``lang``, formatted with ``values`` (KeyError for an unknown key)."""
    return TABLES[lang][key].format(**values)


def hint(lang: str, name: object, candidates: Iterable[str]) -> str:
    """``did_you_mean``'s " Did you mean 'a', 'b'?" in ``lang`` ("" when nothing is close)."""
    english = did_you_mean(name, candidates)  # type: ignore[arg-type]
    if not english:
        return ""
    # The close names are found once, by did_you_mean; only the sentence around them is worded.
    names = english.removeprefix(" Did you mean ").removesuffix("?")
    return text(lang, "hint", names=names)


# The names JobRunner gives the model's owner (``owner.running(name)``), as ModelBusy says them.
_JOBS = {"Maximize": "job_maximize", "Examples": "job_examples"}


def error_line(lang: str, error: BaseException, lead: str = "error") -> str:
    """The line the widget shows for ``error``: ``"ValueError: ..."`` in English.

    Messages from the library below the widgets (engine, inputs, optvis) are English by design;
    in another language they come after a lead line in that language (``lead``: "error",
    "error_layer", "error_image"). A message the widget layer already wrote in ``lang`` is shown
    as it is, and ``ModelBusy`` is worded afresh with the job's name in ``lang``.
    """
    detail, kind = str(error), type(error).__name__
    if lang != "en" and isinstance(error, ModelBusy):
        job = next((key for name, key in _JOBS.items() if detail.startswith(f"{name} ")), None)
        return text(lang, "busy", job=text(lang, job or "job_other"))
    if lang != "en" and _has_cjk(detail):
        return f"{kind}: {detail}"
    return text(lang, lead, kind=kind, detail=detail)


def _has_cjk(message: str) -> bool:
    """Whether ``message`` holds CJK ideographs (it was worded in Chinese by the widget layer)."""
    return any("\u4e00" <= char <= "\u9fff" for char in message)
