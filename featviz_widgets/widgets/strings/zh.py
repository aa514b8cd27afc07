"""The explorer's Simplified Chinese strings (``lang="zh"``), key for key as ``en``."""

from __future__ import annotations

TABLE: dict[str, str] = {
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
    "tab_attribution": "归因",
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
    "det_masks": "每个框的实例掩码（概率高于 {threshold}）以框的颜色半透明填充",
    "det_with": "{caption}；{note}",
    "det_keypoints": "每个框的 {count} 个关键点画成圆点",
    "det_skeleton": "每个框的 {count} 个关键点画成圆点，并用人体骨架线相连",
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
    # -- the Attribution tab ---------------------------------------------------------------
    "attr_class": "类别",
    "attr_method": "方法",
    "attr_layer": "层",
    "attr_auto": "自动",
    "attr_run": "解释",
    "attr_progress": "进度",
    "attr_top_option": "{name}（{prob:.1%}）",
    "attr_option": "{index}：{name}",
    "attr_failed": "归因失败：{error}",
    "attr_no_classes": "模型的输出不是类别分数向量：这里没有可以解释的类别（featviz_widgets.attribute 可用 target=(layer, channel) 解释一个通道）",
    "attr_clip": "归因只解释单张图像；这个浏览器显示的是视频片段",
    "attr_running": "正在为 {name} 运行 {method}…",
    "attr_press": "{method} 需要一些时间：按“解释”来解释 {name}",
    "attr_pixels": "输入像素",
    "attr_auto_layer": "{layer}（自动）",
    "attr_caption": "{name}（#{index}）· 分数 {score:.3g} · {method} · {layer}",
    "attr_no_channels": "{method} 解释的是输入像素：层级方法（列表中的前五个）才能显示决策背后的通道",
    "attr_no_strip": "浏览器以另一种布局显示 {layer}：没有通道条",
    "attr_strip": "{layer} 上决策背后的通道（按贡献排前 {count}，点击一个即可打开）：{ranked}",
    "attr_cancelled": "{method} 已取消",
    "attr_done": "{method} 完成，用时 {seconds:.1f} 秒",
    "pred_click_tip": "点击以解释这个类别（归因标签页）",
    # -- errors ----------------------------------------------------------------------------
    "error": "出错了：{kind}: {detail}",
    "error_layer": "无法读取该层：{kind}: {detail}",
    "error_image": "无法读取这张图像：{kind}: {detail}",
    "job_maximize": "激活最大化",
    "job_examples": "查找样例",
    "job_attribution": "归因",
    "err_no_classes": "target_class 需要输出类别分数向量的模型；该模型的输出不是，只能为 None，收到的是 {value!r}",
    "err_target_class": "target_class 必须是 None（最高类别）、类别名称或 [0, {classes}) 内的整数，收到的是 {value!r}。{hint}",
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
    "err_dataset": "无法读取 dataset=：{error}",
    "err_dataset_empty": "dataset= 中没有图像",
    # -- the library's messages, by code (featviz_widgets.messages) -------------------------
    "msg_close": " 您是不是想输入 {names}？",
    "msg_another_call": "另一个 featviz 调用",
    "msg_file_object": "该文件对象",
    "msg_given_bytes": "传入的字节数据",
    "msg_model_busy": "{job}正在运行：请先取消它，或等它结束后再试",
    "msg_unknown_layer": (
        "{model} 没有名为 {name!r} 的层。{close} list_layers(model) 列出它的层名{note}"
    ),
    "msg_unknown_layer_or_node": (
        "{model} 没有名为 {name!r} 的层。{close} list_layers(model) 列出模块名，"
        "list_nodes(model) 列出计算图节点名{note}"
    ),
    "msg_layer_moved": (
        "{asked} 的感受野只覆盖图像的一小部分，改为显示 {layer}（{asked} 只看到 {field} 像素）；"
        "手动选择一个层即可改用该层"
    ),
    "msg_image_type": (
        "无法把 {kind} 当作图像；请传入 PIL 图像、文件路径（str 或 pathlib.Path）、"
        "以二进制方式打开的文件或 bytes、NumPy 数组或 torch 张量"
    ),
    "msg_image_frames": (
        "无法把 {kind} 当作图像（由帧组成的列表是一段视频片段，只用于视频模型）；请传入 PIL 图像、"
        "文件路径（str 或 pathlib.Path）、以二进制方式打开的文件或 bytes、NumPy 数组或 torch 张量"
    ),
    "msg_image_text_mode": "文件是以文本模式打开的；请用 'rb' 模式打开",
    "msg_image_not_found": "找不到图像文件 {path!r}；请检查路径（当前目录：{cwd}）",
    "msg_image_directory": "{path!r} 是一个文件夹；请传入单个图像文件的路径",
    "msg_bad_image": "{name} 不是 PIL 能读取的图像；请传入 PNG、JPEG 或其他图像文件",
    "msg_image_truncated": "无法解码 {name}：{error}；文件是否完整？",
    "msg_image_too_large": (
        "{name} 太大，无法安全解码（{error}）；PIL 的解压炸弹保护已开启：请先缩小图像，"
        "或只对可信的文件调大 PIL.Image.MAX_IMAGE_PIXELS"
    ),
    "msg_image_empty": "{what} 是空的（形状 {shape}）；请传入有像素的图像",
    "msg_image_not_finite": "{what} 含有 NaN 或 Inf 像素；请先替换它们，例如 np.nan_to_num(a)",
    "msg_image_negative": (
        "{what} 含有负的像素值（最小值 {low:.3g}）：它看起来已经归一化过了；请传入原始图像"
        "（uint8，或取值 0..1 或 0..255 的浮点数）"
    ),
    "msg_clip_type": (
        "无法把 {kind} 当作视频片段；请传入 (T, H, W, 3) 的 uint8 数组、由帧（PIL 图像、数组、路径"
        "或张量）组成的列表，或 (C, T, H, W) / (1, C, T, H, W) 的张量"
    ),
    "msg_clip_empty": "视频片段是一个空列表；请至少传入一帧",
    "msg_clip_sizes": "视频片段各帧的尺寸不同（{sizes}）；请传入尺寸相同的帧",
    "msg_clip_flag": "clip 必须是 True、False 或 None，收到的是 {value!r}",
    "msg_clip_ambiguous": (
        "对视频模型来说，四维张量 {shape} 有歧义：传 clip=True 把它读作一段片段 (C, T, H, W)"
        "（(T, C, H, W) 的张量请用 x.permute(1, 0, 2, 3)），或传 clip=False 读作一张图像 (1, C, H, W)"
    ),
    "msg_clip_for_image_model": (
        "收到的是一段视频片段，但 {model} 接受的是图像（它的第一个卷积不是 Conv3d）：请传入一帧，"
        "例如 frames[0] 或 (1, C, T, H, W) 张量的 x[0, :, 0]，或者换用视频模型"
    ),
    "msg_image_for_video_model": (
        "{model} 接受的是视频片段（它的第一个卷积是 Conv3d），收到的却是一张图像：请传入一段片段，"
        "即 (T, H, W, 3) 的 uint8 数组、由帧组成的列表，或 (C, T, H, W) / (1, C, T, H, W) 的张量"
        "（四维张量需加 clip=True）"
    ),
    "msg_clip_size_refused": (
        "{model} 无法在 {height}x{width} 的帧组成的片段上运行（{error}）；请传 size=224 "
        "或模型的 weights=（用它们的裁剪尺寸）"
    ),
    "msg_clip_frames_refused": (
        "{model} 无法在 {height}x{width} 的 {frames} 帧片段上运行；它需要 {need} 帧"
        "（它的时间步长和池化需要这么多帧）：请传入 {need} 帧的片段"
    ),
    "msg_clip_preprocess": (
        "preprocess= 只用于 Keras 图像模型；视频片段按 mean/std 归一化（weights= 给出的，"
        "否则用 ImageNet 的）：请去掉 preprocess"
    ),
    "msg_unit_scale": "像素缩放到 [0, 1]（未给 preprocess=）",
    "msg_colormap_type": "cmap 必须是 matplotlib 色图的名称（str），收到的是 {kind}",
    "msg_unknown_colormap": (
        "未知的色图 {name!r}。{close} 请使用 matplotlib 色图名称，例如 {common}"
        "（全部 {count} 个：sorted(matplotlib.colormaps)）"
    ),
    "msg_unknown_normalization": "未知的 normalization：{name!r}；可选：{choices}。{close}",
    "msg_model_unwrapped": (
        "featviz 探索这个 {wrapper} 里面的 {inner}（model.{path}）；层名带不带 '{path}.' 前缀都可以"
    ),
    "msg_model_uncompiled": (
        "featviz 探索这个 {wrapper} 里面的 {inner}（model.{path}），并以未编译的方式运行它："
        "挂钩子会让它在每次换层时重新编译；层名带不带 '{path}.' 前缀都可以"
    ),
    "msg_model_scripted": (
        "{model} 是 TorchScript 模型（torch.jit.script 或 torch.jit.load）：torch 不允许给它的层"
        "挂钩子；请改为探索脚本化之前的普通 nn.Module"
    ),
    "msg_model_lazy": (
        "层 {layer!r}（{kind}）还没有参数：请先在一个输入上运行一次模型（model(x)），再探索它"
    ),
    "msg_input_independent": (
        "层 {layer!r} 不依赖输入像素（例如位置偏置表）：没有可以为它寻找的图像；"
        "请选择图像会流经的层"
    ),
    "msg_inside_scripted": (
        "（{name!r} 在 TorchScript 模块 {scripted!r} 内部，torch 不允许给其内部挂钩子："
        "请选择 {scripted!r} 本身或它外面的层）"
    ),
}
