(function(){
  var out={variants:{},charts:{},gold:document.querySelectorAll('circle.gold').length,
    diagnostics:document.querySelectorAll('svg.chart[id^="diag-"]').length,tables:{},no_diagnostics:!!document.getElementById('no-diagnostics')};
  document.querySelectorAll('.card[data-variant]').forEach(function(c){
    var v=c.getAttribute('data-variant'); var n=c.querySelectorAll('rect.hm-cell').length;
    var drawn=0; c.querySelectorAll('rect.hm-cell').forEach(function(r){var b=r.getBoundingClientRect(); if(b.width>0&&b.height>0) drawn++;});
    if(!out.variants[v]) out.variants[v]={cells:0,drawn:0,maps:0};
    out.variants[v].cells+=n; out.variants[v].drawn+=drawn; if(n>0) out.variants[v].maps++;
  });
  document.querySelectorAll('svg.chart').forEach(function(s){
    var paths=s.querySelectorAll('path.series'); var nonempty=0, long=0;
    paths.forEach(function(p){var d=p.getAttribute('d')||''; if(d.length>0) nonempty++; try{ if(p.getTotalLength()>10) long++; }catch(e){} });
    var b=s.getBoundingClientRect();
    out.charts[s.id]={paths:paths.length,nonempty:nonempty,visible:long,width:Math.round(b.width),height:Math.round(b.height)};
    if(s.id.indexOf('diag-')===0){
      var pts=[]; s.querySelectorAll('circle[data-y]').forEach(function(c){var r=c.getBoundingClientRect();
        pts.push({series:c.getAttribute('data-series'),x:+c.getAttribute('data-x'),y:+c.getAttribute('data-y'),drawn:r.width>0&&r.height>0});});
      out.charts[s.id].points=pts;
    }
  });
  document.querySelectorAll('table[id]').forEach(function(t){
    var w=t.parentElement.getBoundingClientRect(), b=t.getBoundingClientRect(), th=t.querySelectorAll('tr:first-child th');
    var last=th.length?th[th.length-1].getBoundingClientRect():b;
    out.tables[t.id]={width:Math.round(b.width),room:Math.round(w.width),last_right:Math.round(last.right),room_right:Math.round(w.right)};
  });
  var el=document.getElementById('render-check'); el.textContent=JSON.stringify(out);
  el.setAttribute('data-ok','1');
})();
